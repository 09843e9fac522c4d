"""The whole flow through the generated Python bindings, as an app would
drive it: a picker, a packer and a driver enrol, get their tasks, pick, pack
and deliver with a photo and sell from the van's quota while the server is
down, then sync. Run by
mobile-bindings/tests/python.rs (see flow/harness.rs for the protocol)."""

import asyncio
import os
import sys
import threading
import time
import traceback

from waybill_mobile import (
    Delivery, Device, DeviceListener, Image, LineQuantity, Relation, Role, SyncState, Tasks,
    WaybillError,
)

ENV = os.environ
SERVER, FINGERPRINT, DIR = ENV["WAYBILL_SERVER"], ENV["WAYBILL_FINGERPRINT"], ENV["WAYBILL_DIR"]
PACKAGE = "106141411234567897"
VAN_ITEM = "09506000134352"


def say(line):
    print(line, flush=True)


def ask(request):
    """Asks the harness to stop or start the server, and waits until it has."""
    say(request)
    assert sys.stdin.readline().strip() == "done"


def wait_until(what, condition, seconds=20):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.05)


def fails(kind, call):
    """Calls `call`, which must raise the WaybillError `kind`; its message."""
    try:
        call()
    except kind as e:
        return str(e)
    raise AssertionError(f"expected {kind.__name__}")


class Heard(DeviceListener):
    """A listener keeping what it was told (on a background thread)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.views = []
        self.states = []

    def views_changed(self, documents):
        with self.lock:
            self.views.extend(documents)

    def sync_state_changed(self, state):
        with self.lock:
            self.states.append(state)


async def enrol(name, code):
    return await Device.enrol(os.path.join(DIR, f"{name}.db"), SERVER, code, FINGERPRINT)


async def pick():
    picker = await enrol("picker", ENV["WAYBILL_PICKER_CODE"])
    assert picker.profile().role == Role.PICKER
    heard = Heard()
    picker.set_listener(heard)
    picker.start_sync()
    wait_until("connected", lambda: any(s.is_connected() for s in heard.states))
    assert "order/SO-1001" in heard.views, heard.views
    say(f"picker: connected in the background, heard {sorted(heard.views)}")

    tasks = picker.tasks()
    assert isinstance(tasks, Tasks.PICKER)
    picks = [t for t in tasks.picks if t.order == "SO-1001"]
    assert len(picks) == 2, tasks
    message = fails(WaybillError.BadBarcode, lambda: picker.pick("SO-1001", 1, "A-01", "09506000134353", 1))
    say(f"picker: a bad barcode is refused: {message}")
    fails(WaybillError.NotAllowed, lambda: picker.load("R-7", PACKAGE))
    for t in picks:
        done = picker.pick(t.order, t.line, t.bin, t.gtin, t.remaining)
        say(f"picker: {done.kind} {done.id}")
    # background sync takes the picks to the server
    wait_until("the picks to sync", lambda: picker.sync_status().pending_events == 0)
    await picker.stop_sync()
    assert picker.sync_status().state == SyncState.STOPPED()
    assert heard.states[-1].is_stopped()


async def pack():
    packer = await enrol("packer", ENV["WAYBILL_PACKER_CODE"])
    heard = Heard()
    packer.set_listener(heard)
    report = await packer.sync_now()
    assert "order/SO-1001" in report.changed and "order/SO-1001" in heard.views, report
    queue = packer.tasks()
    assert isinstance(queue, Tasks.PACKER) and queue.orders[0].order == "SO-1001", queue
    lines = queue.orders[0].lines
    assert lines == [LineQuantity(line=1, quantity=2), LineQuantity(line=2, quantity=1)], lines
    packer.pack("SO-1001", PACKAGE, lines, weight_g=1200)
    packer.close_package("SO-1001", PACKAGE)
    assert (await packer.sync_now()).pending_events == 0
    say("packer: packed and closed")


async def deliver():
    driver = await enrol("driver", ENV["WAYBILL_DRIVER_CODE"])
    await driver.sync_now()
    routes = driver.tasks()
    assert isinstance(routes, Tasks.DRIVER) and routes.routes[0].route == "R-7", routes
    driver.load("R-7", PACKAGE)
    driver.out_for_delivery("R-7")
    await driver.sync_now()

    quotas = driver.quotas()
    assert [(q.gtin, q.remaining) for q in quotas] == [(VAN_ITEM, 3)], quotas

    ask("STOP SERVER")
    sold = driver.sell("A-01", VAN_ITEM, 2, "Corner shop")
    say(f"driver: van sale {sold.kind} {sold.id} with the server down")
    over = fails(WaybillError.TooMany, lambda: driver.sell("A-01", VAN_ITEM, 2, None))
    say(f"driver: beyond the quota: {over}")
    assert driver.quotas()[0].remaining == 1
    driver.arrive("R-7", 1)
    signature = os.path.join(DIR, "signature.png")
    with open(signature, "wb") as f:
        f.write(b"\x89PNG signature")
    missing = fails(WaybillError.ProofMissing, lambda: driver.deliver(
        Delivery(route="R-7", stop=1, relation=Relation.RECIPIENT, recipient_name="Ada")))
    say(f"driver: {missing}")
    delivered = driver.deliver(Delivery(
        route="R-7", stop=1, relation=Relation.RECIPIENT, recipient_name="Ada",
        photo=Image.BYTES(b"\xff\xd8 a jpeg"), signature=Image.FILE(signature)))
    say(f"driver: {delivered.kind} {delivered.id} with the server down")
    try:
        await driver.sync_now()
        raise AssertionError("synced with the server down")
    except WaybillError.Offline as e:
        say(f"driver: offline: {e}")
    assert driver.sync_status().pending_events > 0
    assert driver.order("SO-1001").proofs[0].recipient_name == "Ada"

    ask("START SERVER")
    report = await driver.sync_now()
    assert report.blobs_uploaded == 2 and report.pending_events == 0, report
    say("driver: synced the delivery and its photo and signature")
    await driver.sync_now()  # the server tops the quota up to its target


async def main():
    await pick()
    await pack()
    await deliver()
    say("OK")


try:
    asyncio.run(main())
except BaseException:
    # A failure ends the process at once: background sync threads still
    # running must not call into an interpreter that is shutting down.
    traceback.print_exc()
    sys.stdout.flush()
    os._exit(1)
