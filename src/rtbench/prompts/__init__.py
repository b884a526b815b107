"""Where a run's prompts come from: texts, a dataset file, or synthetic text sized in tokens.

Pure (no gevent, locust or sockets): `rtbench.load`, `rtbench.scenario` and the protocols may use
it. The modules are imported one by one (`rtbench.prompts.source`, ...); this package imports none
of them, so that `rtbench.config` can import `rtbench.prompts.config` alone.
"""
