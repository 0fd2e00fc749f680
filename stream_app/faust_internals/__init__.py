"""Every use the worker makes of faust-streaming's and mode's private members, in one place.

Faust is kept (the consumer group and its co-partitioning assignor, table recovery from changelogs, standbys,
flow control on rebalance, commits after flushing), but its per-message paths cost more than the worker's work,
so the worker goes under them in a few places, each measured (see the modules). Nothing outside this package
touches a Faust or mode private (``tests/unit/test_faust_internals.py`` greps for it), the versions are pinned in
``pyproject.toml``, and the same test fails when the installed versions differ from ``PINNED`` or when the source
of any upstream function below differs from the hash it had when these were written (``UPSTREAM``): an upgrade is
a deliberate act — read the new upstream source, adapt, update the hashes.

What is used, and why:

- ``batch_consumer.BatchConsumer`` (subclass of Faust's aiokafka ``Consumer``): overrides ``_drain_messages``
  (a copy that hands each fetch of the hot topics to a batch handler instead of one ``wait_first`` + callback per
  message: ~4,400 -> ~34,000 ev/s for a do-nothing handler) and reads the consumer's ``_stopped``,
  ``_read_offset``, ``_add_gap``, ``_commit_every``, ``_n_acked`` and the fetcher's ``_stopped`` as the original
  does; overrides ``_commit`` (no commit past a failed send, :mod:`stream_app.sends`) and
  ``_new_consumer_thread`` (below). ``BatchTransport`` replaces ``app.transport`` before the app starts.
- ``same_loop.SameLoopConsumer`` (subclass of ``AIOKafkaConsumerThread``): runs the aiokafka consumer on the
  app's loop instead of a thread with a loop of its own; overrides mode's ``ServiceThread`` life cycle
  (``maybe_start``, ``start``, ``stop``, ``_stopped_set``, ``set_shutdown``, ``_stop_children``,
  ``_stop_futures``, ``_stop_exit_stacks``, ``crash``), ``QueueServiceThread.call_thread``/``cast_thread`` and
  the consumer thread's rebalance callbacks, and reads ``_started``/``_stopped``/``_shutdown``. It also wraps
  ``_create_worker_consumer`` to set aiokafka's ``AIOKafkaConsumer._isolation_level`` to ``read_committed``
  (read at ``start``): Faust reads uncommitted records unless it runs transactions itself, and a direct
  producer's aborted transaction must count nowhere.
- ``store``: a RocksDB table's ``Store._db_for_partition``, ``_dbs``, ``_visible_items`` and
  ``set_persisted_offset`` (whole-batch ``WriteBatch`` writes, partition scans, the persisted changelog offset),
  and the producer's ``_ensure_producer`` (aiokafka record batches): the per-key public path cost several times
  more.
- ``app_tasks``, ``subscribed``, ``consumer_driver``: the app's timers (``App._app_tasks``), its subscribed topics
  (``Conductor._topics``) and the consumer's driver (``ThreadDelegateConsumer._thread``), for the wiring test.
"""

from __future__ import annotations

from typing import Any

from schemas.runtime.pinning import drift as pinned_drift
from schemas.runtime.pinning import source_hash as source_hash  # the tests hash with it

PINNED = {"faust-streaming": "0.15.3", "mode-streaming": "0.7.1", "aiokafka": "0.14.0"}

# "module:qualname" of each upstream function overridden, copied or relied on here -> sha256[:16] of its source
UPSTREAM = {
    "faust.transport.consumer:Consumer._drain_messages": "44a2500309e83c63",
    "faust.transport.consumer:Consumer._commit_offsets": "1a69799041188441",
    "faust.transport.consumer:Consumer._add_gap": "4df2573ded7c1c2c",
    "faust.transport.consumer:Consumer.track_message": "217d7f1399a4cd8e",
    "faust.transport.consumer:Consumer.ack": "5fcf41cf45153475",
    "faust.transport.consumer:Consumer.__init__": "302410d59e6972d1",
    "faust.transport.consumer:ThreadDelegateConsumer._new_consumer_thread": "79e9c029a91a2cb2",
    "faust.transport.consumer:ThreadDelegateConsumer._commit": "a20eec84e4b2ed50",
    "faust.transport.consumer:ConsumerThread.on_partitions_revoked": "c44013f1259ca964",
    "faust.transport.consumer:ConsumerThread.on_partitions_assigned": "e59e8dda43724bd4",
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread.__init__": "4c82157e36d9fd6b",
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread.on_thread_stop": "8dfc004e258b6c25",
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread._create_worker_consumer": "c2701bfc3e6f6cad",
    "aiokafka.consumer.consumer:AIOKafkaConsumer.__init__": "01506f316191f7c9",
    "aiokafka.consumer.consumer:AIOKafkaConsumer.start": "2f1ba70443327538",
    "faust.transport.drivers.aiokafka:Producer._ensure_producer": "5592a4bbdf251325",
    "faust.transport.drivers.aiokafka:Transport.__init__": "a06006f6ae8ed716",
    "faust.stores.rocksdb:Store._db_for_partition": "cb7e67d5f9efc4bc",
    "faust.stores.rocksdb:Store._visible_items": "545dc16a2b25e4a4",
    "faust.stores.rocksdb:Store.set_persisted_offset": "b4c811926678346e",
    "faust.stores.rocksdb:Store.__init__": "c7c0fa2989e8ab4a",
    "mode.threads:ServiceThread.maybe_start": "f0e40d3d648ea6f7",
    "mode.threads:ServiceThread.start": "f11841038a033a05",
    "mode.threads:ServiceThread.stop": "32d026539c3665b2",
    "mode.threads:ServiceThread._stopped_set": "af9b1ff7781223c2",
    "mode.threads:ServiceThread.set_shutdown": "ada84bf0cade97be",
    "mode.threads:ServiceThread._stop_children": "1477900e8ea2bc23",
    "mode.threads:ServiceThread._stop_futures": "a9356c5dd8513aae",
    "mode.threads:ServiceThread._stop_exit_stacks": "566cabf54f47645c",
    "mode.threads:ServiceThread.crash": "68a766aadc5f7196",
    "mode.threads:QueueServiceThread.call_thread": "479edda75b54734b",
    "mode.threads:QueueServiceThread.cast_thread": "32489f1ee4f80e67",
}


def drift() -> list[str]:
    """What differs from what this package was written against (empty: nothing)."""
    return pinned_drift(PINNED, UPSTREAM)


def app_tasks(app: Any) -> list[Any]:
    """The timers and tasks registered on the app (``App._app_tasks``)."""
    return list(app._app_tasks)


def subscribed(app: Any) -> list[Any]:
    """The topics the app's conductor subscribes to (``Conductor._topics``)."""
    return list(app.topics._topics)


def consumer_driver(consumer: Any) -> Any:
    """The object that runs a ``ThreadDelegateConsumer``'s aiokafka consumer (``_thread``)."""
    return consumer._thread
