# The two entry points the README opens with. Both install what they need.
.PHONY: install demo test lint

install:
	hack/install.sh

demo: install
	.venv/bin/localcluster demo

test: install
	hack/test.sh

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports
