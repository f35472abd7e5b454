# Two commands: `make run` and `make test`. Everything else is set up on the way.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
TRIAGE := $(VENV)/bin/triage
STAMP  := $(VENV)/.installed
export TRIAGE_MODEL_STORE ?= models
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run test train model bench bench-bulk bench-load lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# Train the default model from corpus/ only when the store has none.
model: setup
	@$(TRIAGE) models current >/dev/null 2>&1 || $(TRIAGE) train --corpus

train: setup
	$(TRIAGE) train --corpus

run: model
	@echo "Serving on http://$(HOST):$(PORT): log in at http://$(HOST):$(PORT)/login (API docs at /docs)"
	@echo "On the first start the admin password is printed below (and kept in var/first-admin.txt). API token: .venv/bin/triage users token admin"
	$(TRIAGE) serve --host $(HOST) --port $(PORT)

test: setup
	sh tests/support/system_deps.sh
	$(PY) -m pytest -q

bench: model
	$(PY) bench/segment.py

bench-bulk: model
	$(PY) bench/bulk.py

bench-load: model
	$(PY) bench/load.py

lint: setup
	$(VENV)/bin/ruff check triage training service tests bench
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) models var
