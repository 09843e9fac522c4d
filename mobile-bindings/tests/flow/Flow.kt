// The whole flow through the generated Kotlin bindings, as an Android app
// would drive it: a picker, a packer and a driver enrol, get their tasks,
// pick, pack, deliver with a photo and sell from the van's quota while the
// server is down, then sync.
// Run on the JVM by mobile-bindings/tests/kotlin.rs (see flow/harness.rs
// for the protocol).

import java.io.File
import kotlinx.coroutines.runBlocking
import waybill.*

val env: Map<String, String> = System.getenv()
val server = env.getValue("WAYBILL_SERVER")
val fingerprint = env.getValue("WAYBILL_FINGERPRINT")
val dir = File(env.getValue("WAYBILL_DIR"))
const val PACKAGE = "106141411234567897"
const val VAN_ITEM = "09506000134352"

fun say(line: String) = println(line).also { System.out.flush() }

/** Asks the harness to stop or start the server, and waits until it has. */
fun ask(request: String) {
    say(request)
    check(readLine()?.trim() == "done") { "the harness did not answer $request" }
}

fun waitUntil(what: String, seconds: Long = 20, condition: () -> Boolean) {
    val deadline = System.nanoTime() + seconds * 1_000_000_000
    while (!condition()) {
        check(System.nanoTime() < deadline) { "waited $seconds s for $what" }
        Thread.sleep(50)
    }
}

/** Runs [call], which must throw [T]; its message. */
inline fun <reified T : WaybillException> fails(call: () -> Unit): String {
    try {
        call()
    } catch (e: WaybillException) {
        check(e is T) { "expected ${T::class.simpleName}, got $e" }
        return e.message ?: ""
    }
    error("expected ${T::class.simpleName}")
}

/** A listener keeping what it was told (on a background thread). */
class Heard : DeviceListener {
    val views: MutableList<String> = java.util.Collections.synchronizedList(mutableListOf())
    val states: MutableList<SyncState> = java.util.Collections.synchronizedList(mutableListOf())

    override fun viewsChanged(documents: List<String>) {
        views.addAll(documents)
    }

    override fun syncStateChanged(state: SyncState) {
        states.add(state)
    }
}

suspend fun enrol(name: String, code: String): Device =
    Device.enrol(File(dir, "$name.db").path, server, code, fingerprint)

suspend fun pick() {
    val picker = enrol("picker", env.getValue("WAYBILL_PICKER_CODE"))
    check(picker.profile().role == Role.PICKER)
    val heard = Heard()
    picker.setListener(heard)
    picker.startSync()
    waitUntil("connected") { heard.states.contains(SyncState.Connected) }
    check("order/SO-1001" in heard.views) { heard.views }
    say("picker: connected in the background, heard ${heard.views.sorted()}")

    val tasks = picker.tasks()
    check(tasks is Tasks.Picker) { tasks }
    val picks = tasks.picks.filter { it.order == "SO-1001" }
    check(picks.size == 2) { tasks }
    val message = fails<WaybillException.BadBarcode> { picker.pick("SO-1001", 1u, "A-01", "09506000134353", 1u) }
    say("picker: a bad barcode is refused: $message")
    fails<WaybillException.NotAllowed> { picker.load("R-7", PACKAGE) }
    for (t in picks) {
        val done = picker.pick(t.order, t.line, t.bin!!, t.gtin, t.remaining)
        say("picker: ${done.kind} ${done.id} at ${done.at}")
    }
    // background sync takes the picks to the server
    waitUntil("the picks to sync") { picker.syncStatus().pendingEvents == 0L }
    picker.stopSync()
    check(picker.syncStatus().state == SyncState.Stopped)
    check(heard.states.last() == SyncState.Stopped) { heard.states }
    picker.close()
}

suspend fun pack() {
    val packer = enrol("packer", env.getValue("WAYBILL_PACKER_CODE"))
    val heard = Heard()
    packer.setListener(heard)
    val report = packer.syncNow()
    check("order/SO-1001" in report.changed && "order/SO-1001" in heard.views) { report }
    val queue = packer.tasks()
    check(queue is Tasks.Packer && queue.orders[0].order == "SO-1001") { queue }
    val lines = (queue as Tasks.Packer).orders[0].lines
    check(lines == listOf(LineQuantity(1u, 2u), LineQuantity(2u, 1u))) { lines }
    packer.pack("SO-1001", PACKAGE, lines, weightG = 1200u)
    packer.closePackage("SO-1001", PACKAGE)
    check(packer.syncNow().pendingEvents == 0L)
    say("packer: packed and closed")
    packer.close()
}

suspend fun deliver() {
    val driver = enrol("driver", env.getValue("WAYBILL_DRIVER_CODE"))
    driver.syncNow()
    val routes = driver.tasks()
    check(routes is Tasks.Driver && routes.routes[0].route == "R-7") { routes }
    driver.load("R-7", PACKAGE)
    driver.outForDelivery("R-7")
    driver.syncNow()

    val quotas = driver.quotas()
    check(quotas.map { it.gtin to it.remaining } == listOf(VAN_ITEM to 3L)) { quotas }

    ask("STOP SERVER")
    val sold = driver.sell("A-01", VAN_ITEM, 2u, "Corner shop")
    say("driver: van sale ${sold.kind} ${sold.id} with the server down")
    val over = fails<WaybillException.TooMany> { driver.sell("A-01", VAN_ITEM, 2u, null) }
    say("driver: beyond the quota: $over")
    check(driver.quotas()[0].remaining == 1L)
    driver.arrive("R-7", 1u)
    val signature = File(dir, "signature.png").apply { writeBytes(byteArrayOf(0x89.toByte(), 0x50, 0x4e, 0x47)) }
    val missing = fails<WaybillException.ProofMissing> {
        driver.deliver(Delivery(route = "R-7", stop = 1u, relation = Relation.RECIPIENT, recipientName = "Ada"))
    }
    say("driver: $missing")
    val delivered = driver.deliver(
        Delivery(
            route = "R-7",
            stop = 1u,
            relation = Relation.RECIPIENT,
            recipientName = "Ada",
            photo = Image.Bytes(byteArrayOf(0xff.toByte(), 0xd8.toByte(), 1, 2, 3)),
            signature = Image.File(signature.path),
        ),
    )
    say("driver: ${delivered.kind} ${delivered.id} with the server down")
    try {
        driver.syncNow()
        error("synced with the server down")
    } catch (e: WaybillException.Offline) {
        say("driver: offline: ${e.message}")
    }
    check(driver.syncStatus().pendingEvents > 0L)
    check(driver.order("SO-1001").proofs[0].recipientName == "Ada")

    ask("START SERVER")
    val report = driver.syncNow()
    check(report.blobsUploaded == 2uL && report.pendingEvents == 0L) { report }
    say("driver: synced the delivery and its photo and signature")
    driver.syncNow() // the server tops the quota up to its target
    driver.close()
}

fun main() = runBlocking {
    pick()
    pack()
    deliver()
    say("OK")
}
