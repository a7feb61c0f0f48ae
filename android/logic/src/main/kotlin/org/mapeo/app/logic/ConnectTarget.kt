// What the user typed or scanned to reach a device: an address (`ip:port`) or a connection
// code, plain or inside the QR payload this app shows. Only the shape is checked here; the
// core checks a code's checksum and the device that answers.
package org.mapeo.app.logic

/** The port the app listens on when it is free (the desktop peer's default too). */
const val DEFAULT_PORT = 47380

/** What a QR code shown by the app holds before the connection code. */
const val QR_PREFIX = "mapeo:connect:"

/** The longest input looked at (a code is far shorter). */
const val MAX_TARGET_CHARS = 300

/** Something to connect to. */
sealed interface ConnectTarget {
    /** `ip:port`, IPv6 in brackets, as the core's `connect` takes it. */
    data class Address(val hostPort: String) : ConnectTarget

    /** A connection code, as shown (the core ignores case, spaces and dashes). */
    data class Code(val code: String) : ConnectTarget
}

/** Why input is not something to connect to; [message] is shown to the user. */
class TargetError(message: String) : Exception(message)

/** The QR payload for a connection code. */
fun qrPayload(code: String): String = QR_PREFIX + code

/** Reads user input or a scanned QR payload. */
fun parseConnectTarget(input: String): Result<ConnectTarget> {
    val text = input.trim()
    if (text.isEmpty()) return Result.failure(TargetError("Enter an address or a connection code"))
    if (text.length > MAX_TARGET_CHARS) return Result.failure(TargetError("That is too long to be an address or a code"))
    val body = if (text.startsWith(QR_PREFIX, ignoreCase = true)) text.substring(QR_PREFIX.length).trim() else text
    val compact = body.filterNot { it == ' ' || it == '-' }
    if (compact.startsWith("MP", ignoreCase = true) && compact.drop(2).all { it.isLetterOrDigit() }) {
        if (compact.length < MIN_CODE_CHARS) return Result.failure(TargetError("This connection code is incomplete"))
        return Result.success(ConnectTarget.Code(body))
    }
    return parseAddress(body)
}

/** Shortest text a connection code can be: prefix, fingerprint, port, one IPv4, checksum. */
private const val MIN_CODE_CHARS = 3 + (8 + 2 + 5 + 4) * 8 / 5

private fun parseAddress(text: String): Result<ConnectTarget> {
    val bad = Result.failure<ConnectTarget>(TargetError("Not an address like 192.168.43.1:47380 or a connection code"))
    val (host, portText) = if (text.startsWith("[")) {
        val end = text.indexOf(']')
        if (end < 0) return bad
        val rest = text.substring(end + 1)
        val port = when {
            rest.isEmpty() -> null
            rest.startsWith(":") -> rest.substring(1)
            else -> return bad
        }
        text.substring(1, end) to port
    } else {
        val colon = text.indexOf(':')
        when {
            colon < 0 -> text to null
            // Bare IPv6: no port can follow without brackets.
            text.count { it == ':' } > 1 -> text to null
            else -> text.substring(0, colon) to text.substring(colon + 1)
        }
    }
    val port = if (portText == null) DEFAULT_PORT else portText.toIntOrNull() ?: return bad
    if (port !in 1..65535) return Result.failure(TargetError("The port must be between 1 and 65535"))
    return when {
        isIpv4(host) -> Result.success(ConnectTarget.Address("$host:$port"))
        isIpv6(host) -> Result.success(ConnectTarget.Address("[$host]:$port"))
        else -> bad
    }
}

private fun isIpv4(host: String): Boolean {
    val parts = host.split('.')
    return parts.size == 4 && parts.all { p ->
        p.isNotEmpty() && p.length <= 3 && p.all(Char::isDigit) && p.toInt() <= 255
    }
}

private fun isIpv6(host: String): Boolean {
    if (host.isEmpty() || host.length > 45 || !host.contains(':')) return false
    return host.all { it.isDigit() || it.lowercaseChar() in 'a'..'f' || it == ':' || it == '.' } &&
        host.split("::").size <= 2
}
