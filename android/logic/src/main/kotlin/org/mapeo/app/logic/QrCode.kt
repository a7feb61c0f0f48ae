// The connection code as a QR code: the modules to draw on the Exchange screen, and reading
// one back from a photo's pixels (the app "scans" by taking a picture of the other screen).
// ZXing's core does the coding; drawing and the camera are the app's.
package org.mapeo.app.logic

import com.google.zxing.BarcodeFormat
import com.google.zxing.BinaryBitmap
import com.google.zxing.DecodeHintType
import com.google.zxing.EncodeHintType
import com.google.zxing.NotFoundException
import com.google.zxing.ChecksumException
import com.google.zxing.FormatException
import com.google.zxing.RGBLuminanceSource
import com.google.zxing.common.HybridBinarizer
import com.google.zxing.qrcode.QRCodeReader
import com.google.zxing.qrcode.QRCodeWriter
import com.google.zxing.qrcode.decoder.ErrorCorrectionLevel

/** Blank modules around a QR code, as the standard asks. */
const val QR_QUIET_ZONE = 4

/** A QR code: [size]×[size] modules, true for dark, quiet zone included. */
class QrMatrix(val size: Int, private val dark: BooleanArray) {
    fun isDark(x: Int, y: Int): Boolean = dark[y * size + x]
}

/** The QR code of [payload] (medium error correction: a scratched screen still reads). */
fun qrMatrix(payload: String): QrMatrix {
    val hints = mapOf(EncodeHintType.ERROR_CORRECTION to ErrorCorrectionLevel.M, EncodeHintType.MARGIN to QR_QUIET_ZONE)
    // Size 0: the writer picks the smallest, one pixel per module.
    val bits = QRCodeWriter().encode(payload, BarcodeFormat.QR_CODE, 0, 0, hints)
    val size = bits.width
    return QrMatrix(size, BooleanArray(size * size) { bits.get(it % size, it / size) })
}

/** The payload of a QR code in an image ([argb]: [width]×[height] pixels, row by row), or null. */
fun decodeQr(argb: IntArray, width: Int, height: Int): String? {
    val bitmap = BinaryBitmap(HybridBinarizer(RGBLuminanceSource(width, height, argb)))
    val hints = mapOf(DecodeHintType.TRY_HARDER to true)
    return try {
        QRCodeReader().decode(bitmap, hints).text
    } catch (e: NotFoundException) {
        null
    } catch (e: ChecksumException) {
        null
    } catch (e: FormatException) {
        null
    }
}

/** [m] drawn as ARGB pixels, [scale] pixels per module (what the app puts in a Bitmap). */
fun qrPixels(m: QrMatrix, scale: Int): IntArray {
    val side = m.size * scale
    return IntArray(side * side) { i ->
        if (m.isDark((i % side) / scale, (i / side) / scale)) 0xFF000000.toInt() else 0xFFFFFFFF.toInt()
    }
}
