#!/usr/bin/env bash
# Deployment: the example configuration, the shipped nginx site under a
# real nginx, the systemd units under systemd-analyze, "make install" and
# "make uninstall" into a DESTDIR, and ticketd started by socket
# activation (the socket as fd 3) serving a request through nginx.
. "$(dirname "$0")/lib.sh"

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${TK_BUILD:?tests/run sets TK_BUILD}
work=$(mktemp -d)
act_pid=
cleanup() {
    if [ -n "$act_pid" ] && kill -0 "$act_pid" 2>/dev/null; then
        kill -KILL "$act_pid" 2>/dev/null
    fi
    if [ -s "$work/act/nginx.pid" ]; then
        kill -QUIT "$(cat "$work/act/nginx.pid")" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# makevar NAME: a variable of the build's Makefile, fully expanded.
makevar() {
    make -s --no-print-directory -C "$build" \
        --eval="tk-print-var: ; @echo \$($1)" tk-print-var
}

# The option names of the table in src/conf.c ("section.option").
conf_options() {
    sed -n '/^static const struct opt opts\[\] = {/,/^};/p' "$src/src/conf.c" |
        grep -o '"[a-z_]*\.[a-z_]*"' | tr -d '"' | sort
}

# The options set in a libconfig file written like the example
# ("section: {" ... "name = value;" ... "};"), as "section.option".
file_options() {
    awk '/^[a-z_]+: *\{/ { sec = $1; sub(/:.*/, "", sec); next }
         /^\};/ { sec = ""; next }
         sec != "" && /^ *[a-z_]+ *=/ { n = $1; sub(/=.*/, "", n);
                                        print sec "." n }' "$1" | sort
}

# --- the example configuration ----------------------------------------------
example=$src/etc/ticketd.conf.example
cp "$example" "$work/example.conf"
chmod 600 "$work/example.conf"
t_check "ticketd -t accepts the example config (mode 0600)" \
    "$TK_BIN/ticketd" -t -c "$work/example.conf"
t_check "ticketctl conf check accepts the example config" \
    "$TK_BIN/ticketctl" -q -c "$work/example.conf" conf check

table=$(conf_options)
t_check "the option table of src/conf.c was found" test "$(wc -l <<<"$table")" -gt 40
t_eq "the example sets every option of the table, once" "$table" \
    "$(file_options "$example")"

# Its values are the built-in defaults except the site-specific ones: a
# file holding only those must dump exactly like the example.
site_only='^(wechat\.(token|appid|original_id|aes_key|appsecret)|site\.(base_url|link_secret)|redis\.password|mysql\.password)$'
{
    cur=
    while read -r opt; do
        sec=${opt%%.*}
        if [ "$sec" != "$cur" ]; then
            [ -n "$cur" ] && echo "};"
            echo "$sec: {"
            cur=$sec
        fi
        sed -n "/^$sec: *{/,/^};/p" "$example" | grep -E "^ *${opt#*.} *=" | head -1
    done < <(file_options "$example" | grep -E "$site_only")
    echo "};"
} > "$work/site-only.conf"
chmod 600 "$work/site-only.conf"
t_eq "the example's other values are the built-in defaults" \
    "$("$TK_BIN/ticketctl" -q -c "$work/example.conf" conf check -v)" \
    "$("$TK_BIN/ticketctl" -q -c "$work/site-only.conf" conf check -v |
        sed "s#$work/site-only.conf#$work/example.conf#")"

chmod 640 "$work/example.conf"
out=$("$TK_BIN/ticketd" -t -c "$work/example.conf" 2>&1)
t_contains "the example at its installed mode 0640 is refused (it has secrets)" \
    "accessible by group or others" "$out"

# --- the nginx site ---------------------------------------------------------
site=$src/etc/nginx/ticketd.conf
# main_conf DIR SITE: a minimal main nginx.conf around SITE, state in DIR.
main_conf() {
    cat <<CONF
worker_processes 1;
pid $1/nginx.pid;
error_log $1/nginx-error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $1/body;
    fastcgi_temp_path $1/fastcgi;
    proxy_temp_path $1/proxy;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    include /etc/nginx/mime.types;
    include $2;
}
CONF
}
mkdir -p "$work/ngx"
main_conf "$work/ngx" "$site" > "$work/ngx/nginx.conf"
t_check "nginx -t accepts the shipped site as it is" \
    nginx -t -q -e "$work/ngx/nginx-error.log" -p "$work/ngx" -c "$work/ngx/nginx.conf"
t_eq "the site never turns fastcgi_keep_conn on" "" \
    "$(grep -nE '^[^#]*fastcgi_keep_conn +on' "$site")"
t_check "the site passes the arrival time as REQUEST_START_MS" \
    grep -qE '^ *fastcgi_param +REQUEST_START_MS +\$msec;' "$site"
t_check "the site does not pass every request header as a parameter" \
    grep -qE '^ *fastcgi_pass_request_headers +off;' "$site"
for p in REQUEST_METHOD DOCUMENT_URI QUERY_STRING CONTENT_TYPE CONTENT_LENGTH \
        HTTP_COOKIE REMOTE_ADDR; do
    t_check "the site passes $p, which ticketd reads" \
        grep -qE "^ *fastcgi_param +$p " "$site"
done

# --- make install / uninstall into a DESTDIR --------------------------------
dest=$work/dest
sbindir=$(makevar sbindir)
bindir=$(makevar bindir)
sysconfdir=$(makevar sysconfdir)
unitdir=$(makevar systemdsystemunitdir)
pkgdatadir=$(makevar pkgdatadir)
docdir=$(makevar docdir)
t_check "make install DESTDIR succeeds" make -s -C "$build" install DESTDIR="$dest"

expected=(
    "$bindir/ticketctl"
    "$sbindir/ticketd"
    "$unitdir/ticketd.socket"
    "$unitdir/ticketd.service"
    "$unitdir/ticket-persistd.service"
    "$unitdir/ticket-reconcile.service"
    "$unitdir/ticket-reconcile.timer"
    "$sysconfdir/ticketd/ticketd.conf.example"
    "$sysconfdir/nginx/sites-available/ticketd"
    "$sysconfdir/cron.d/ticketd"
    "$docdir/README.md"
)
for f in "$src"/sql/*.sql; do
    expected+=("$pkgdatadir/sql/$(basename "$f")")
done
have_persistd=0
if [ -x "$build/src/ticket-persistd" ]; then
    have_persistd=1
    expected+=("$sbindir/ticket-persistd")
else
    echo "ok - $t_name: ticket-persistd is installed # SKIP src/ticket-persistd is not built yet"
fi
t_eq "the DESTDIR holds exactly the expected files" \
    "$(printf '%s\n' "${expected[@]}" | sort)" \
    "$(cd "$dest" && find . \( -type f -o -type l \) | sed 's#^\.##' | sort)"
t_eq "the example config is installed with mode 0640" 640 \
    "$(stat -c %a "$dest$sysconfdir/ticketd/ticketd.conf.example")"
for p in ticketctl ticketd; do
    d=$bindir
    [ $p = ticketd ] && d=$sbindir
    t_check "installed $p is executable" test -x "$dest$d/$p"
done
t_check "installed nginx site is the shipped one" \
    cmp "$site" "$dest$sysconfdir/nginx/sites-available/ticketd"
t_eq "no @placeholder@ is left in the installed units and cron file" "" \
    "$(grep -l '@[a-z]*@' "$dest$unitdir"/* "$dest$sysconfdir/cron.d/ticketd")"
t_check "ticketd.service runs the installed binary with the installed config" \
    grep -qx "ExecStart=$sbindir/ticketd -c $sysconfdir/ticketd/ticketd.conf" \
    "$dest$unitdir/ticketd.service"
t_check "the cron file runs the installed ticketctl reconcile as ticketd" \
    grep -qE "^\*/5 \* \* \* \* ticketd .*$bindir/ticketctl -c $sysconfdir/ticketd/ticketd.conf reconcile\$" \
    "$dest$sysconfdir/cron.d/ticketd"

# systemd-analyze verify needs the ExecStart binaries at the paths the units
# name; this host runs no systemd, so the units are checked as copies whose
# binary paths point into the DESTDIR. Any message (a misspelt key only
# warns) counts as a failure.
mkdir -p "$work/units"
for u in "$dest$unitdir"/*; do
    sed -e "s#$sbindir/#$dest$sbindir/#g" -e "s#$bindir/#$dest$bindir/#g" \
        "$u" > "$work/units/$(basename "$u")"
done
verify() { # unit...: passes when systemd-analyze says nothing and exits 0
    local out
    out=$(cd "$work/units" && systemd-analyze verify --man=no "$@" 2>&1) &&
        [ -z "$out" ] || { echo "$out"; return 1; }
}
t_check "systemd-analyze verify: ticketd.socket and ticketd.service" \
    verify ./ticketd.socket ./ticketd.service
t_check "systemd-analyze verify: ticket-reconcile.timer and .service" \
    verify ./ticket-reconcile.timer ./ticket-reconcile.service
if [ $have_persistd = 1 ]; then
    t_check "systemd-analyze verify: ticket-persistd.service" \
        verify ./ticket-persistd.service
else
    echo "ok - $t_name: systemd-analyze verify: ticket-persistd.service # SKIP src/ticket-persistd is not built yet"
fi
for u in ticketd.service ticket-persistd.service ticket-reconcile.service; do
    t_check "$u keeps its sandbox (systemd-analyze security exposure <= 2.5 of 10)" \
        systemd-analyze security --offline=true --no-pager --threshold=25 \
        "$work/units/$u"
done
t_eq "the timer runs every 5 minutes" "*-*-* *:00/5:00" \
    "$(sed -n 's/^OnCalendar=//p' "$work/units/ticket-reconcile.timer" |
        xargs -I{} systemd-analyze calendar {} |
        sed -n 's/^ *Normalized form: //p')"
for key in Type=notify 'ExecReload=/bin/kill -HUP $MAINPID' WatchdogSec= \
    Restart=on-failure User=ticketd RuntimeDirectory=ticketd \
    ProtectSystem=strict PrivateTmp=yes NoNewPrivileges=yes; do
    t_check "ticketd.service sets $key" \
        grep -q "^$key" "$work/units/ticketd.service"
done

t_check "make uninstall DESTDIR succeeds" make -s -C "$build" uninstall DESTDIR="$dest"
t_eq "make uninstall leaves no file behind" "" \
    "$(cd "$dest" && find . \( -type f -o -type l \))"

# --- the source tarball -----------------------------------------------------
# "make dist" ships what EXTRA_DIST and the programs name; a file someone
# forgot there is missing from the tarball. Every tracked file but the
# repository's own dotfiles must be in it.
mkdir -p "$work/dist"
t_check "make distdir succeeds" \
    make -s -C "$build" distdir distdir="$work/dist/ticketd"
t_eq "the source tarball holds every tracked file" "" \
    "$(comm -23 \
        <(git -C "$src" ls-files | grep -vE '^\.[^/]*$|(^|/)\.gitkeep$' | sort) \
        <(cd "$work/dist/ticketd" && find . -type f | sed 's#^\./##' | sort))"

# --- socket activation: the socket as fd 3, through nginx -------------------
# systemd-socket-activate does what ticketd.socket does: it binds the socket,
# waits for the first connection and execs ticketd with LISTEN_FDS=1,
# LISTEN_PID and the socket as fd 3. ticketd's own fcgi.listen points
# elsewhere, so a reply proves that fd 3 was used.
act=$work/act
mkdir -p "$act/uploads"
chmod 755 "$work" "$act" "$act/uploads"
sed -e "s#^\( *listen = \).*#\1\"$act/own.sock\";#" "$TK_CONF" > "$act/ticketd.conf"
chmod 600 "$act/ticketd.conf"
sed -e "s#listen 80;#listen unix:$act/http.sock;#" \
    -e "/listen \[::\]:80;/d" \
    -e "s#unix:/run/ticketd/ticketd.sock#unix:$act/ticketd.sock#" \
    -e "s#/var/lib/ticketd/uploads/#$act/uploads/#" \
    "$site" > "$act/site.conf"
main_conf "$act" "$act/site.conf" > "$act/nginx.conf"
systemd-socket-activate -l "$act/ticketd.sock" \
    -E ASAN_OPTIONS -E UBSAN_OPTIONS \
    "$TK_BIN/ticketd" -c "$act/ticketd.conf" >"$act/ticketd.log" 2>&1 &
act_pid=$!
for _ in $(seq 50); do [ -S "$act/ticketd.sock" ] && break; sleep 0.1; done
t_check "systemd-socket-activate holds the socket" test -S "$act/ticketd.sock"
# What SocketMode= does for ticketd.socket: nginx's workers (nobody here,
# www-data there) must be able to connect.
chmod 666 "$act/ticketd.sock"
t_check "a throwaway nginx starts with the shipped site" \
    nginx -e "$act/nginx-error.log" -p "$act" -c "$act/nginx.conf"
for _ in $(seq 50); do [ -S "$act/http.sock" ] && break; sleep 0.1; done

# nginx alone: the upload directory and the body cap of /wechat.
printf 'poster' > "$act/uploads/poster.txt"
ahttp() { # METHOD PATH [curl args...]: body, then "HTTP <code>"
    local m=$1 p=$2; shift 2
    curl -sS -m 10 --unix-socket "$act/http.sock" -X "$m" "$@" \
        -w '\nHTTP %{http_code}' "http://localhost$p"
}
t_eq "nginx serves uploaded images from the upload directory" \
    "$(printf 'poster\nHTTP 200')" "$(ahttp GET /uploads/poster.txt)"
head -c 70000 /dev/zero > "$work/big"
t_contains "nginx refuses a /wechat body over 64k" "HTTP 413" \
    "$(ahttp POST '/wechat?signature=x&timestamp=1&nonce=1' \
        --data-binary @"$work/big")"

# Through nginx to ticketd on fd 3.
out=$(ahttp GET /healthz)
t_contains "ticketd started with the socket as fd 3 answers /healthz with 200" \
    "HTTP 200" "$out"
t_check "ticketd used fd 3, not its own fcgi.listen" test ! -e "$act/own.sock"
t_check "ticketd is still running after the request" kill -0 "$act_pid"
if kill -0 "$act_pid" 2>/dev/null; then
    kill -TERM "$act_pid"
    for _ in $(seq 300); do kill -0 "$act_pid" 2>/dev/null || break; sleep 0.1; done
    stopped() { ! kill -0 "$act_pid" 2>/dev/null; }
    t_check "ticketd stops on SIGTERM" stopped
fi
if ! t_done; then
    echo "# ticketd log:"
    sed 's/^/#   /' "$act/ticketd.log" | tail -20
    exit 1
fi
