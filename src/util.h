/*
 * Small helpers every module uses: allocation that aborts on exhaustion,
 * clocks, bounded string copies and secret wiping.
 */
#ifndef TK_UTIL_H
#define TK_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define TK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TK_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TK_UNUSED __attribute__((unused))
#define TK_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Out of memory is not recoverable for a server: these abort instead. */
void *tk_xmalloc(size_t n);
void *tk_xcalloc(size_t nmemb, size_t size);
void *tk_xrealloc(void *p, size_t n);
char *tk_xstrdup(const char *s);
char *tk_xstrndup(const char *s, size_t n);

/* Wall clock in seconds and milliseconds; monotonic clock in milliseconds. */
int64_t tk_now(void);
int64_t tk_now_ms(void);
int64_t tk_mono_ms(void);

/*
 * Copies at most size - 1 bytes of src into dst and terminates it.
 * Returns the length of src; a result >= size means truncation.
 */
size_t tk_strlcpy(char *dst, const char *src, size_t size);

/* Overwrites n bytes in a way the compiler may not elide. NULL is fine. */
void tk_wipe(void *p, size_t n);

/* Wipes and frees a NUL-terminated secret. NULL is fine. */
void tk_free_secret(char *s);

/*
 * Parses a decimal int64 from the whole of s (no sign for unsigned use,
 * no spaces, no trailing bytes). Returns 0 or -EINVAL / -ERANGE.
 */
int tk_parse_i64(const char *s, int64_t *out);

/* True when the n bytes at s are well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
bool tk_utf8_is_valid(const char *s, size_t n);

/* The largest length <= max that does not split a UTF-8 sequence of s. */
size_t tk_utf8_truncate(const char *s, size_t len, size_t max);

/*
 * Copies s[0..len) into out (max + 1 bytes) to quote in a message: cut to
 * at most max bytes at a UTF-8 boundary, each control byte and DEL
 * replaced by '?', so input cannot break a one-line message or drive a
 * terminal. Returns out.
 */
char *tk_utf8_printable(char *out, const char *s, size_t len, size_t max);

#endif
