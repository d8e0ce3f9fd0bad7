/*
 * QR codes as inline SVG, for the ticket page (check-in scans the ticket
 * id). The only user of libqrencode.
 */
#ifndef TK_QR_H
#define TK_QR_H

#include "buf.h"

/* At most this many bytes are encoded (a ticket id is 16). */
#define TK_QR_MAX_TEXT 256

/*
 * Appends an <svg> element holding text as a QR code (error correction
 * level M, a 4-module quiet zone, dark modules as one path) to out, sized
 * by CSS (width 100%, square). Returns 0, or -EINVAL for an empty or
 * too-long text or one libqrencode refuses.
 */
int tk_qr_svg(struct tk_buf *out, const char *text);

#endif
