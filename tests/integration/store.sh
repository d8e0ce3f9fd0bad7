#!/usr/bin/env bash
# ticketctl against the stack's real mariadbd: migrations, activities from
# YAML, roster import, bindings, admins. Files with errors write nothing.
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
data=$root/tests/data
tk_reset
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- migrations
out=$(cd "$root" && ctl db migrate --sql-dir sql 2>&1); rc=$?
t_eq "db migrate on a migrated database succeeds" 0 "$rc"
t_eq "db migrate twice records each version once" 1 \
    "$(sql 'SELECT COUNT(*) FROM schema_migrations WHERE version=1')"
out=$(cd "$root" && "$TK_BIN/ticketctl" -c "$TK_CONF" db status 2>&1); rc=$?
t_eq "db status exits 0 when nothing is pending" 0 "$rc"
t_contains "db status lists 001 as applied" "001 applied" "$out"
mkdir "$tmp/sql"
cp "$root"/sql/*.sql "$tmp/sql/"
cat > "$tmp/sql/999_probe.sql" <<'SQL'
CREATE TABLE probe_a (id INT PRIMARY KEY) ENGINE=InnoDB;
-- a comment; with a semicolon
CREATE TABLE probe_b (s VARCHAR(8) DEFAULT 'a;b') ENGINE=InnoDB;
SQL
out=$(ctl db status --sql-dir "$tmp/sql" 2>&1); rc=$?
t_eq "db status exits 1 with a pending migration" 1 "$rc"
t_contains "db status names the pending file" "999 pending  999_probe.sql" "$out"
t_check "a pending multi-statement migration applies" ctl db migrate --sql-dir "$tmp/sql"
t_eq "both of its tables exist" 2 \
    "$(sql "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='ticketd' AND table_name LIKE 'probe_%'")"
t_check "and migrating again is harmless" ctl db migrate --sql-dir "$tmp/sql"
sql "DROP TABLE probe_a, probe_b; DELETE FROM schema_migrations WHERE version=999" >/dev/null

# --- activities
id=$(ctl activity create -f "$data/activity-good.yaml" 2>&1); rc=$?
t_eq "activity create exits 0" 0 "$rc"
case $id in ''|*[!0-9]*) t_fail "activity create prints the id alone" "got: $id" ;;
*) t_ok "activity create prints the id alone" ;; esac
t_eq "the row holds the YAML's fields" \
    "concert2026|新年音乐会|1798714800|1798723800|1000|0" \
    "$(sql "SELECT CONCAT_WS('|', \`key\`, name, start_time, end_time, total_tickets, status) FROM activities WHERE id=$id")"
out=$(ctl activity create -f "$data/activity-good.yaml" 2>&1); rc=$?
t_eq "a key already used is refused with EX_DATAERR" 65 "$rc"
t_contains "the error names file, line, column and field" \
    "activity-good.yaml:2:1: key: 'concert2026' is already used" "$out"
out=$(ctl activity create -f "$data/activity-bad.yaml" 2>&1); rc=$?
t_eq "a bad YAML file exits 65" 65 "$rc"
t_eq "it reports all four errors" 4 "$(grep -c '^.*activity-bad.yaml:[0-9]*:[0-9]*: ' <<<"$out")"
t_contains "including the time" "activity-bad.yaml:5:13: book_start:" "$out"
t_eq "a bad YAML file writes nothing" 1 "$(sql 'SELECT COUNT(*) FROM activities')"
t_check "activity update applies a partial file" ctl activity update "$id" -f "$data/activity-update.yaml"
t_eq "only the fields given changed" "大礼堂|1200|新年音乐会" \
    "$(sql "SELECT CONCAT_WS('|', place, total_tickets, name) FROM activities WHERE id=$id")"
printf 'book_end: 2026-12-01T00:00:00+08:00\n' > "$tmp/upd.yaml"
out=$(ctl activity update "$id" -f "$tmp/upd.yaml" 2>&1); rc=$?
t_eq "an update breaking book_end >= book_start is refused" 65 "$rc"
t_eq "and changes nothing" 1798603200 "$(sql "SELECT book_end FROM activities WHERE id=$id")"
sed 's/^key: .*/key: other2026/' "$data/activity-good.yaml" > "$tmp/other.yaml"
id2=$(ctl activity create -f "$tmp/other.yaml")
printf 'key: concert2026\n' > "$tmp/steal.yaml"
out=$(ctl activity update "$id2" -f "$tmp/steal.yaml" 2>&1); rc=$?
t_eq "an update to another activity's key is refused" 65 "$rc"
t_contains "naming the key" "key: 'concert2026' is already used" "$out"
t_check "activity publish" ctl activity publish "$id"
t_eq "publish sets status 1" 1 "$(sql "SELECT status FROM activities WHERE id=$id")"
out=$(ctl activity list)
t_contains "activity list shows the published activity" "published  concert2026" "$out"
out=$(ctl activity show "$id")
t_contains "activity show prints every field" "total_tickets: 1200" "$out"
t_contains "activity show prints the counts" "booked_tickets: 0" "$out"
t_check "activity delete" ctl activity delete "$id2"
t_eq "delete is soft (status -1)" -1 "$(sql "SELECT status FROM activities WHERE id=$id2")"
t_eq "a deleted activity leaves the list" 0 "$(ctl activity list | grep -c other2026)"
out=$(ctl activity delete "$id2" 2>&1); rc=$?
t_eq "deleting it again is refused" 65 "$rc"
out=$(ctl activity publish 999999 2>&1); rc=$?
t_eq "publishing an unknown id is refused" 65 "$rc"

# --- roster
out=$(ctl user import "$data/roster-bad.csv" 2>&1); rc=$?
t_eq "a bad CSV exits 65" 65 "$rc"
t_contains "the empty name is reported with line and column" "roster-bad.csv:3:12: name: must not be empty" "$out"
t_contains "the duplicate student is reported" "roster-bad.csv:4:1: student_id: duplicate '2020011101' (first on line 2)" "$out"
t_eq "a bad CSV writes nothing" 0 "$(sql 'SELECT COUNT(*) FROM students')"
out=$(ctl user import "$data/roster-good.csv" 2>&1); rc=$?
t_eq "a good CSV imports" 0 "$rc"
t_contains "with a final count" "imported 3 rows" "$out"
t_eq "three students, quoted fields decoded" 'Li, Si|Wang "Wu"|张三' \
    "$(sql "SELECT GROUP_CONCAT(name ORDER BY name SEPARATOR '|') FROM students")"
t_contains "passwords are stored hashed" "pbkdf2_sha256\$" \
    "$(sql "SELECT password_hash FROM students WHERE student_id='2020011001'")"
t_eq "no password is stored in clear" 0 \
    "$(sql "SELECT COUNT(*) FROM students WHERE password_hash LIKE '%pw-%'")"
printf 'student_id,name,password,openid\n2020011003,王五,x,o_a\n2020011005,孙七,x,o_b\n' > "$tmp/seed.csv"
t_check "an import with openids binds them" ctl user import "$tmp/seed.csv"
t_eq "the openid column bound both" "2" "$(sql "SELECT COUNT(*) FROM users WHERE openid IN ('o_a','o_b') AND student_id IS NOT NULL")"
printf 'student_id,name,password,openid\n2020011006,新,x,o_new\n2020011007,冲突,x,o_a\n' > "$tmp/clash.csv"
out=$(ctl user import "$tmp/clash.csv" 2>&1); rc=$?
t_eq "an openid already bound in the database fails the import" 65 "$rc"
t_eq "and nothing of that file is written" 0 \
    "$(sql "SELECT COUNT(*) FROM students WHERE student_id IN ('2020011006','2020011007')")"

# --- bindings
t_check "user bind" ctl user bind o_x 2020011001
out=$(ctl user show o_x)
t_contains "user show names the student" "student_id: 2020011001" "$out"
t_contains "and the name" "name: 张三" "$out"
t_check "binding the same pair again is fine" ctl user bind o_x 2020011001
out=$(ctl user bind o_y 2020011001 2>&1); rc=$?
t_eq "a student bound to another openid is refused" 65 "$rc"
t_contains "saying so" "is bound to another openid" "$out"
out=$(ctl user bind o_x 2020011002 2>&1); rc=$?
t_eq "an openid bound to another student is refused" 65 "$rc"
out=$(ctl user bind o_z 1999999999 2>&1); rc=$?
t_eq "a student not in the roster is refused" 65 "$rc"
t_eq "the refusals wrote nothing" "o_x" \
    "$(sql "SELECT GROUP_CONCAT(openid) FROM users WHERE student_id IN ('2020011001','2020011002','1999999999')")"
t_check "user unbind" ctl user unbind o_x
t_eq "unbind clears the binding" "" "$(sql "SELECT COALESCE(student_id,'') FROM users WHERE openid='o_x'")"
out=$(ctl user unbind o_x 2>&1); rc=$?
t_eq "unbinding an unbound openid is refused" 65 "$rc"
t_check "the student may bind another openid afterwards" ctl user bind o_y 2020011001

# --- admins
out=$(printf 'correct horse\n' | ctl admin add alice 2>&1); rc=$?
t_eq "admin add reads the password from stdin" 0 "$rc"
h=$(sql "SELECT password_hash FROM admins WHERE username='alice'")
t_contains "admin passwords use the slow count" "pbkdf2_sha256\$200000\$" "$h"
out=$(printf 'correct horse\n' | ctl admin add alice 2>&1); rc=$?
t_eq "a second admin of that name is refused" 65 "$rc"
out=$(printf 'short\n' | ctl admin add bob 2>&1); rc=$?
t_eq "a short password is refused" 65 "$rc"
t_eq "and not stored" 0 "$(sql "SELECT COUNT(*) FROM admins WHERE username='bob'")"
t_done
