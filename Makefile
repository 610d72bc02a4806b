# The two set-up commands: `make run` and `make test`. A machine needs Python 3.11 and, for the
# browser tests of `make test`, Chromium.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: run test chromium bench fuzz load install install-dev migrate demo clean

$(VENV)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found; set PYTHON=...)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import quickfix" 2>/dev/null || echo "Installing: the first install compiles QuickFIX (the FIX engine) from source, about 5 minutes on 2 cores; it has not hung."
	$(PIP) install -q --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) -m config.launcher exec -- $(PY) manage.py migrate --noinput -v 0

demo: install
	$(PY) -m config.launcher exec -- sh -c '$(PY) manage.py migrate --noinput -v 0 && $(PY) manage.py load_demo'

# The launcher starts Redis (embedded when REDIS_URL is unset), migrates, loads the demo
# data (idempotent), then starts the ASGI server, worker and beat under honcho.
run: install
	@$(PY) -m config.launcher run

# The browser tests drive a Chromium of the system's (Playwright's own download does not work offline):
# say so before anything runs rather than after minutes of tests.
CHROMIUM ?= $(or $(DESK_CHROMIUM),/usr/bin/chromium)

chromium:
	@test -x "$(CHROMIUM)" || { echo "make test needs Chromium at $(CHROMIUM) for the browser tests: install it with 'apt-get install chromium' (as root), or set DESK_CHROMIUM to one."; exit 1; }

test: chromium install-dev
	DJANGO_LOG_LEVEL=$${DJANGO_LOG_LEVEL:-WARNING} $(PY) -m config.launcher exec -- $(PY) -m pytest $(PYTEST_ARGS)

bench: install-dev
	$(PY) -m config.launcher exec -- sh -c '$(PY) manage.py migrate --noinput -v 0 && $(PY) manage.py load_demo --no-history && $(PY) -m bench.run $(if $(ONLY),--only $(ONLY),)'

fuzz: install-dev
	DESK_FUZZ_EXAMPLES=$${DESK_FUZZ_EXAMPLES:-300} $(PY) -m config.launcher exec -- $(PY) -m pytest tests/api/test_fuzz.py $(PYTEST_ARGS)

# A 2-minute mixed load on loopback (locust in its own venv: it monkeypatches with gevent).
.venv-load/.installed: requirements-load.txt
	@test -x .venv-load/bin/python || $(PYTHON) -m venv .venv-load
	.venv-load/bin/python -m pip install -q --disable-pip-version-check -r requirements-load.txt
	@touch $@

load: install-dev .venv-load/.installed
	$(PY) -m config.launcher exec -- sh -c '$(PY) manage.py migrate --noinput -v 0 && $(PY) manage.py load_demo --no-history && $(PY) -m bench.load'

clean:
	rm -rf $(VENV) var
