"""The run's process topology: one load process, or a master and N Locust worker processes.

- `environment`: the Locust environment of any load process (the local run's, the master's, a
  worker's), with rtbench's state attached.
- `pool`: worker processes on this machine, started and stopped by their PIDs.
- `worker`: the entry point of one worker process (`python -m rtbench.load.distributed.worker`,
  or `rtbench worker` on another machine).
- `handshake`: the master hands each worker that connects the run's configuration.
- `shipping`: workers ship closed interval histograms to the master, which merges them exactly.
- `interval_log`: a worker's own copy of what it shipped, one HdrHistogram log per metric.
- `liveness`: the master notices a lost worker within seconds, forgets it and hands its users over.
- `watchdog`: a worker stops at once when its master is gone or has counted it as lost.
- `gauges`: the master merges its own gauges with its workers' latest.
"""
