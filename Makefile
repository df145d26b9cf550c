# Onramp. Quick start: `make run` (wizard on http://127.0.0.1:8000 with a worker and a sandbox tenant), `make test`.
SYSTEM_PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install system-deps run test lint bench mutation clean

$(INSTALLED): pyproject.toml
	$(SYSTEM_PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

install: $(INSTALLED)

# Debian packages the test suite drives for real: a Redis server and Chromium; and GNU gettext, whose xgettext and
# msgfmt the translation tests run (makemessages, compilemessages).
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v msgfmt >/dev/null || missing="$$missing gettext"; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

run: install
	@bash scripts/run.sh

test: install system-deps
	$(VENV)/bin/ruff check .
	env -u DATABASE_URL $(PY) manage.py makemigrations --check --dry-run >/dev/null
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install system-deps
	$(PY) -m bench

$(VENV)/bin/mutmut: $(INSTALLED)
	$(VENV)/bin/pip install --quiet -e '.[test,mutation]'
	touch $@

# Mutation scores of the core pure modules (minutes; not part of `make test`): `make mutation MODULES=errors` for
# one; MUTATION_CHILDREN=2 runs two workers (default 1).
mutation: $(VENV)/bin/mutmut
	$(PY) scripts/mutation.py $(MODULES)

clean:
	rm -rf $(VENV) var tests/artifacts
