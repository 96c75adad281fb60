# Everything a user runs, one line each. Only Python 3.11+ is needed beforehand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SECRET_FILE := instance/secret_key
PORT ?= 8000

.PHONY: run run-lan test bench install clean

# Installs (again) whenever the requirements change.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

$(SECRET_FILE):
	mkdir -p instance
	$(BIN)/python -c 'import secrets; print(secrets.token_hex(32))' > $(SECRET_FILE)
	chmod 600 $(SECRET_FILE)

# Serves http://127.0.0.1:8000 with SQLite in instance/ (development sign-in unless WECHAT_APPID is set).
run: $(STAMP) $(SECRET_FILE)
	APP_ENV=$${APP_ENV:-development} SECRET_KEY=$$(cat $(SECRET_FILE)) $(BIN)/flask --app wsgi db upgrade
	APP_ENV=$${APP_ENV:-development} SECRET_KEY=$$(cat $(SECRET_FILE)) exec $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

# The same, reachable from a phone on this network: serves on every interface and puts this
# machine's LAN address into the QR (PUBLIC_BASE_URL). LAN_IP=... picks the address by hand.
run-lan: $(STAMP) $(SECRET_FILE)
	@lan=$${LAN_IP:-$$($(BIN)/python -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(("192.0.2.1", 9)); print(s.getsockname()[0])' 2>/dev/null || hostname -I | cut -d" " -f1)}; \
	echo "Open http://$$lan:$(PORT)/login on the PC; a phone on the same network scans the QR."; \
	export APP_ENV=$${APP_ENV:-development} SECRET_KEY=$$(cat $(SECRET_FILE)) BIND=0.0.0.0:$(PORT) PUBLIC_BASE_URL=http://$$lan:$(PORT); \
	$(BIN)/flask --app wsgi db upgrade && exec $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
