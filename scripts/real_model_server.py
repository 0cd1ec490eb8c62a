"""Serves a GGUF model with llama.cpp's OpenAI-compatible HTTP server (xllamacpp).

Usage: real_model_server.py MODEL PORT THREADS CTX

Started by scripts/real-model.sh; runs until SIGTERM. One slot: requests queue
in the server, so promptc's own limits (max_in_flight) decide what is sent.
"""

import signal
import sys
import time

import xllamacpp as xlc


def main() -> None:
    model, port, threads, ctx = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    p = xlc.CommonParams()
    p.model.path = model
    p.port = port
    p.hostnames = ["127.0.0.1"]
    p.n_ctx = ctx
    p.n_parallel = 1
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    p.endpoint_props = True
    p.endpoint_slots = True
    server = xlc.Server(p)
    print(f"listening {server.listening_address}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
