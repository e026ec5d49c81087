# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1:8000

.PHONY: demo test install migrate seed serve worker beat messages check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

migrate: install
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

serve:
	$(BIN)/python manage.py runserver $(HOST)

# Creates .venv, installs, migrates, loads the Jinyuan demo street, prints the accounts and serves.
demo: seed serve

# Creates/updates .venv and runs the whole suite (PostgreSQL when DATABASE_URL is set, SQLite otherwise):
# everything but the demo street, then the demo street's test alone (about a minute), each part timed.
# The second part may find nothing to run (pytest's exit status 5) only when PYTEST_ARGS names other tests.
test: install
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest -m "not demo" $(PYTEST_ARGS)
	$(BIN)/python -m pytest -m demo $(PYTEST_ARGS) || { [ $$? -eq 5 ] && [ -n "$(PYTEST_ARGS)" ]; }

worker: install
	CELERY_WORKER=1 $(BIN)/celery -A config worker --loglevel=INFO

beat: install
	CELERY_WORKER=1 $(BIN)/celery -A config beat --loglevel=INFO

# Refresh the translation catalogues after changing user-facing text (needs GNU gettext).
messages: install
	$(BIN)/python manage.py makemessages -l zh_Hans -l en --ignore=.venv --ignore=var
	$(BIN)/python manage.py compilemessages --ignore=.venv

check: install
	$(BIN)/python manage.py check_tree

clean:
	rm -rf var/db.sqlite3 .pytest_cache
