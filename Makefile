VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: install demo test protos bench train clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test,tf]'
	touch $@

protos: install
	$(PY) -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. --pyi_out=. protos/hfed.proto

demo: install
	$(PY) -m client.demo

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) -m bench.datapath

train: install
	$(PY) -m bench.train

clean:
	rm -rf $(VENV) *.egg-info
