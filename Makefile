# Two commands on a fresh machine:
#   make run   - install, migrate, load demo data, then serve http://127.0.0.1:8000 with a Celery
#                worker and beat on an embedded broker (SQLite, var/broker); one Ctrl-C stops all
#   make test  - install the dev tools too and run the whole test suite (SQLite by default;
#                PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)
#   make serve - production start: install, migrate, collect static files, run gunicorn
#                (set DEBUG=0, SECRET_KEY, ALLOWED_HOSTS and the provider settings first)
# requirements.txt is what production runs; requirements-dev.txt adds test, lint and browser tools.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
WORKERS ?= 3

.PHONY: install install-dev run serve demo test lint format messages worker beat bench clean audit

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

demo: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo_data --address http://$(HOST):$(PORT)/

run: demo
	$(PY) manage.py runshop $(HOST):$(PORT)

# With DEBUG=0 static files are served from STATIC_ROOT by whitenoise's hashed manifest:
# every page is a 500 until collectstatic has run, so this start always runs it first.
serve: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput
	$(VENV)/bin/gunicorn shop.wsgi:application --bind $(HOST):$(PORT) --workers $(WORKERS) --access-logfile -

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .

format: install-dev
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

# Needs gettext (apt-get install gettext); the compiled .mo files are committed.
messages: install
	$(PY) manage.py makemessages -l de --ignore=.venv --ignore=staticfiles
	$(PY) manage.py compilemessages --ignore=.venv

worker: install
	$(VENV)/bin/celery -A shop worker --loglevel=INFO --concurrency=2

beat: install
	$(VENV)/bin/celery -A shop beat --loglevel=INFO

# Lighthouse 12.2.3 (tools/audit, npm) with Debian's chromium, mobile settings, on home, category,
# search, product, cart and sign-in of the demo shop on its own SQLite file; prints the table.
AUDIT_PORT ?= 8130
AUDIT_DB ?= $(CURDIR)/var/audit.sqlite3
audit: install
	cd tools/audit && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p var
	DATABASE_URL=sqlite:///$(AUDIT_DB) MEDIA_ROOT=$(CURDIR)/var/audit-media $(PY) manage.py migrate --noinput >/dev/null
	DATABASE_URL=sqlite:///$(AUDIT_DB) MEDIA_ROOT=$(CURDIR)/var/audit-media $(PY) manage.py load_demo_data >/dev/null
	DATABASE_URL=sqlite:///$(AUDIT_DB) MEDIA_ROOT=$(CURDIR)/var/audit-media $(PY) manage.py runserver --noreload \
		127.0.0.1:$(AUDIT_PORT) >var/audit-server.log 2>&1 & echo $$! >var/audit-server.pid; \
	for i in $$(seq 60); do curl -sf -o /dev/null http://127.0.0.1:$(AUDIT_PORT)/ && break; sleep 1; done; \
	node tools/audit/audit.mjs http://127.0.0.1:$(AUDIT_PORT); status=$$?; \
	kill $$(cat var/audit-server.pid); exit $$status

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) db.sqlite3 media staticfiles var
