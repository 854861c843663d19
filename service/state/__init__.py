"""What every process of the service shares: the data directory's files (model versions,
job records, data sets), its lock, and the plumbing of the processes (logs, BLAS threads,
parent death). Imports nothing of ``service.api.server`` or ``service.trainer.worker``."""
