/*
 * The domain: activities, tickets, students and the outcomes of the
 * operations on them. Plain structs with fixed-size fields so they can be
 * copied into caches and across modules without ownership questions.
 */
#ifndef TK_MODEL_H
#define TK_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#define TK_KEY_MAX 64        /* activity key (活动代称), bytes */
#define TK_NAME_MAX 255      /* activity name, bytes of UTF-8 */
#define TK_PLACE_MAX 255
#define TK_URL_MAX 1024
#define TK_DESC_MAX 4000
#define TK_SID_MAX 32        /* student id */
#define TK_OPENID_MAX 64
#define TK_TICKET_ID_MAX 32  /* unique_id: 16 lowercase hex characters */
#define TK_STUDENT_NAME_MAX 128
#define TK_USERNAME_MAX 64

enum tk_activity_status {
    TK_ACT_DELETED = -1,
    TK_ACT_SAVED = 0,
    TK_ACT_PUBLISHED = 1,
};

enum tk_ticket_status {
    TK_TICKET_CANCELLED = 0,
    TK_TICKET_VALID = 1,
    TK_TICKET_USED = 2,
};

struct tk_activity {
    int64_t id;
    int status; /* enum tk_activity_status */
    char key[TK_KEY_MAX + 1];
    char name[TK_NAME_MAX + 1];
    char place[TK_PLACE_MAX + 1];
    char pic_url[TK_URL_MAX + 1];
    char description[TK_DESC_MAX + 1];
    int64_t start_time; /* Unix seconds */
    int64_t end_time;
    int64_t book_start;
    int64_t book_end;
    int64_t total_tickets;
};

struct tk_ticket {
    char unique_id[TK_TICKET_ID_MAX + 1];
    int64_t activity_id;
    char student_id[TK_SID_MAX + 1];
    int status; /* enum tk_ticket_status */
    int64_t created_at;
    int64_t updated_at;
};

struct tk_student {
    char student_id[TK_SID_MAX + 1];
    char name[TK_STUDENT_NAME_MAX + 1];
};

/* Outcomes of the Redis functions; failures are separate negative codes. */
enum tk_grab_outcome {
    TK_GRAB_OK = 0,         /* new ticket */
    TK_GRAB_DUPLICATE = 1,  /* already holds a valid ticket (returned) */
    TK_GRAB_SOLD_OUT = 2,
    TK_GRAB_NO_ACTIVITY = 3, /* stock not loaded: not preheated or deleted */
    /* tk_grab_bound only, with nothing done: the sender's binding is */
    TK_GRAB_NOT_CACHED = 4, /* not in Redis (resolve it, then tk_grab) */
    TK_GRAB_UNBOUND = 5,    /* cached as "not bound" */
};

enum tk_refund_outcome {
    TK_REFUND_OK = 0,
    TK_REFUND_NO_TICKET = 1,
    TK_REFUND_USED = 2,
    TK_REFUND_NO_ACTIVITY = 3,
};

enum tk_checkin_outcome {
    TK_CHECKIN_OK = 0,
    TK_CHECKIN_NO_TICKET = 1,  /* unknown, cancelled, or other activity */
    TK_CHECKIN_USED = 2,
    TK_CHECKIN_NO_ACTIVITY = 3,
};

/*
 * Order events, as XADDed by the Redis functions to tk:{a:ID}:events and
 * applied by ticket-persistd. Fields of every entry:
 *   t    "g" grab | "r" refund | "c" check-in
 *   sid  student id
 *   tid  ticket unique_id
 *   oid  only in an event put back from the dead letters: its original
 *        entry id, which then stands for the entry's own below
 *   ts   optional: Unix milliseconds, written by functions before
 *        version 6 and by the dead-letter replay; otherwise the entry
 *        id's milliseconds are the event's time
 * The stream entry id orders events; persistd keeps the last applied id
 * per ticket row (tickets.last_event) and ignores older ones.
 */
#define TK_EVENT_GRAB "g"
#define TK_EVENT_REFUND "r"
#define TK_EVENT_CHECKIN "c"

#endif
