"""Cluster mode's shared state: job records, the queue and the active pointer in Redis
(:mod:`.redis_jobs`, :mod:`.pointer`), model versions and uploads in an S3-compatible
object store (:mod:`.s3_store`, :mod:`.s3_uploads`). Each is one implementation of a
protocol of :mod:`service.state.protocols`; :mod:`service.state.backend` picks them."""
