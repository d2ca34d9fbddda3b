"""Several processes writing one records file at once: nothing lost, chain intact."""

import hashlib
import multiprocessing as mp
from pathlib import Path

from dosecraft.records import RecordStore, verify_audit

WORKERS = 4
PER_WORKER = 30


def _worker(path: str, index: int, barrier, results) -> None:  # runs in a child process
    try:
        # Every worker opens the *new* file at the same moment: schema creation and the
        # pseudonym key must happen exactly once.
        barrier.wait(timeout=60)
        with RecordStore(Path(path), actor=f"worker{index}") as store:
            bid = store.start_batch(f"rx{index}.csv", operator=f"worker{index}",
                                    source_sha256=hashlib.sha256(f"{index}".encode())
                                    .hexdigest())
            for k in range(PER_WORKER):
                digest = hashlib.sha256(f"{index}-{k}".encode()).hexdigest()
                if k % 3 == 0:
                    store.record_prescription(bid, {"row": k, "rx_id": f"RX{k}",
                                                    "status": "ok"},
                                              patient_ref=f"MRN-{k}")
                else:
                    store.record_output(bid, f"RX{k}", "gcode", f"gcode/RX{k}.gcode", digest,
                                        k)
            results.put((index, bid, store.pseudonym("MRN-1")))
    except BaseException as exc:  # report to the parent instead of dying silently
        results.put((index, None, repr(exc)))


def test_concurrent_writers_keep_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    ctx = mp.get_context("spawn")  # no inherited SQLite handles, as in real separate runs
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(path), i, barrier, results))
             for i in range(WORKERS)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    errors = [o for o in outcomes if o[1] is None]
    assert not errors, errors
    assert len({o[2] for o in outcomes}) == 1  # one key, made once, used by everyone

    report = verify_audit(path)
    assert report.ok, report.problems
    # schema.migrate + pseudonym_key.create, then per worker: batch.start + one per record
    assert report.entries == 2 + WORKERS * (1 + PER_WORKER)
    with RecordStore(path) as store:
        batches = store.list_batches()
        assert len(batches) == WORKERS
        for b in batches:
            assert b["counts"]["prescriptions"] == PER_WORKER // 3
            assert b["counts"]["outputs"] == PER_WORKER - PER_WORKER // 3
        seqs = [e.seq for e in store.audit_entries()]
        assert seqs == list(range(1, report.entries + 1))
