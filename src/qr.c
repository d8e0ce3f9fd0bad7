/*
 * libqrencode's module matrix drawn as SVG. Runs of dark modules in a row
 * become one "h" segment of a single path, which keeps a 16-character
 * ticket id under 3 KiB of markup; shape-rendering="crispEdges" keeps the
 * modules sharp on any screen.
 */
#include "qr.h"

#include <errno.h>
#include <qrencode.h>
#include <string.h>

#include "log.h"

#define QUIET 4

int
tk_qr_svg(struct tk_buf *out, const char *text)
{
    size_t n = strlen(text);
    QRcode *qr;
    int size;

    if (n == 0 || n > TK_QR_MAX_TEXT) {
        return -EINVAL;
    }
    qr = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
    if (qr == NULL) {
        tk_err("cannot encode qr code of %zu bytes: %s", n, strerror(errno));
        return -EINVAL;
    }
    size = qr->width + 2 * QUIET;
    tk_buf_printf(out,
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" "
                  "viewBox=\"0 0 %d %d\" width=\"100%%\" "
                  "shape-rendering=\"crispEdges\" role=\"img\" "
                  "aria-label=\"QR\"><rect width=\"%d\" height=\"%d\" "
                  "fill=\"#fff\"/><path fill=\"#000\" d=\"",
                  size, size, size, size);
    for (int y = 0; y < qr->width; y++) {
        const unsigned char *row = qr->data + (size_t)y * qr->width;
        int x = 0;

        while (x < qr->width) {
            int start;

            if (!(row[x] & 1)) {
                x++;
                continue;
            }
            start = x;
            while (x < qr->width && (row[x] & 1)) {
                x++;
            }
            tk_buf_printf(out, "M%d %dh%dv1h-%dz", start + QUIET, y + QUIET,
                          x - start, x - start);
        }
    }
    tk_buf_adds(out, "\"/></svg>");
    QRcode_free(qr);
    return 0;
}
