# The two commands of the README: `make run` and `make test`.
# Both work on a fresh Debian with only Python 3.11: they create .venv, install
# the Python dependencies and, when run as root, the Debian packages needed.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= etc
SUDO   := $(shell [ "$$(id -u)" = 0 ] && echo root)
APT_RUN  := asterisk-core-sounds-en-wav asterisk-core-sounds-en-g722 asterisk-moh-opsound-wav
APT_TEST := sip-tester baresip sox kamailio openssl sipvicious asterisk-core-sounds-en-wav asterisk-moh-opsound-wav
CERT_DIR ?= $(CONFIG)/tls

.PHONY: run test check lint sounds bench fuzz venv sysdeps-run sysdeps-test cert clean

run: venv sysdeps-run
	$(BIN)/pbx run --config-dir $(CONFIG)

test: venv sysdeps-test
	$(BIN)/ruff check .
	$(BIN)/pytest -q

check: venv
	$(BIN)/pbx check --config-dir $(CONFIG)

lint: venv
	$(BIN)/ruff check .

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  if [ -n "$(SUDO)" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv && \
	    rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); \
	  else echo "python3 -m venv failed: install python3-venv (apt-get install python3-venv)"; exit 1; fi; }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

# Debian packages: installed only when missing and when we are root.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ -n "$(SUDO)" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "note: missing Debian packages:$$missing (run as root to install them)"; fi; \
	fi
endef

sysdeps-run:
	$(call apt_install,$(APT_RUN))

sysdeps-test:
	$(call apt_install,$(APT_TEST))

# Without root: unpack the Asterisk prompts (8 kHz .wav, 16 kHz .g722 for G.722
# calls) into sounds/asterisk and the music on hold into sounds/asterisk/moh
# (ignored by git; musiconhold.conf's directory=moh finds it there).
sounds:
	@set -e; tmp=$$(mktemp -d); cd $$tmp && \
	  apt-get download asterisk-core-sounds-en-wav asterisk-core-sounds-en-g722 asterisk-moh-opsound-wav && \
	  for deb in asterisk-*.deb; do dpkg -x $$deb root; done; \
	  mkdir -p $(CURDIR)/sounds/asterisk && cp -r root/usr/share/asterisk/sounds/en_US_f_Allison/. $(CURDIR)/sounds/asterisk/; \
	  cp -r root/usr/share/asterisk/moh $(CURDIR)/sounds/asterisk/; \
	  rm -rf $$tmp; echo "prompts and music on hold unpacked into sounds/asterisk"

# A self-signed certificate for the TLS listener: $(CERT_DIR)/pbx.crt and pbx.key
# (names: CERT_NAMES="pbx.example.com 203.0.113.5"; default 127.0.0.1 ::1 localhost).
cert: venv
	$(call apt_install,openssl)
	$(BIN)/python -m pbx.tlscert $(CERT_DIR) $(CERT_NAMES)

bench: venv
	@echo "see bench/README.md: each benchmark is run on demand"

# The long fuzz run (make test runs a short one): atheris when it installs, else hypothesis.
FUZZ_MINUTES ?= 10
fuzz: venv
	@$(BIN)/pip install -q -e '.[fuzz]' 2>/dev/null || echo "atheris did not install: fuzzing with hypothesis"
	$(BIN)/python -m tests.fuzz.run_fuzz --minutes $(FUZZ_MINUTES)

clean:
	rm -rf $(VENV) var etc/var .pytest_cache
