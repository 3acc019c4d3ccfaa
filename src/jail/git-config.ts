/**
 * The jail's .git/config (and each .git/modules/…/config): a copy without credentials,
 * made on every call by one awk process from the real file, which is never modified, and
 * bound read-only over it. Git in the jail still reads the repository (status, diff, log,
 * commit); fetch and push have no credential.
 *
 * Dropped: `http.*.extraheader` (actions/checkout v4's token); `include.path` and
 * `includeIf.*.path` unless relative or inside the workspace (v6's credentials file in
 * RUNNER_TEMP, which the jail does not show anyway); `url.*.insteadOf` and
 * `pushInsteadOf` whose URL carries userinfo (`https://x-access-token:TOKEN@github.com/`):
 * the whole section, as any section whose name (a URL) carries userinfo. Userinfo is cut
 * out of `remote.*.url` and `pushurl`. A dropped value's continuation
 * lines go with it.
 *
 * Run as `awk -v dir=<out> -v workspace=<path> -f git-config.awk FILE…`: the n-th FILE's
 * copy is `<dir>/git-<n>`. Plain POSIX awk (mawk, gawk and busybox run it).
 */
export const GIT_CONFIG_AWK = String.raw`
function unquote(v) {
  sub(/^[ \t]+/, "", v); sub(/[ \t\r]+$/, "", v)
  if (v ~ /^".*"$/) v = substr(v, 2, length(v) - 2)
  return v
}
function shown(v) {
  v = unquote(v)
  if (v != "" && substr(v, 1, 1) != "/" && substr(v, 1, 1) != "~") return 1
  return workspace != "" && index(v, workspace "/") == 1
}
function continued(l) { return l ~ /\\[ \t\r]*$/ }
# One "key = value" line of the current section: printed, cut or dropped.
function entry(l,    k, v) {
  k = l; sub(/^[ \t]+/, "", k)
  if (!match(k, /^[A-Za-z][A-Za-z0-9-]*/)) { print l > out; return }
  k = tolower(substr(k, 1, RLENGTH))
  v = ""
  if (index(l, "=")) { v = l; sub(/^[^=]*=/, "", v) }
  if ((section == "http" && k == "extraheader") ||
      ((section == "include" || section == "includeif") && k == "path" && !shown(v))) {
    skipping = continued(l)
    return
  }
  if (section == "remote" && (k == "url" || k == "pushurl")) sub(/:\/\/[^\/@ \t"]*@/, "://", l)
  print l > out
}
BEGIN { userinfo = "^[A-Za-z][A-Za-z0-9+.-]*://[^/@]*@" }
FNR == 1 { n++; out = dir "/git-" n; printf "" > out; skipping = 0; dropped = 0; section = ""; subsection = "" }
skipping { skipping = continued($0); next }
/^[ \t]*\[/ {
  dropped = 0
  h = $0; sub(/^[ \t]*\[[ \t]*/, "", h)
  section = h; sub(/[ \t".\]].*$/, "", section); section = tolower(section)
  subsection = ""
  if (match(h, /"[^"]*"/)) subsection = substr(h, RSTART + 1, RLENGTH - 2)
  else if (match(h, /^[^ \t\]]*\]/)) { subsection = substr(h, 1, RLENGTH - 1); if (index(subsection, ".")) subsection = substr(subsection, index(subsection, ".") + 1); else subsection = "" }
  if (subsection ~ userinfo) { dropped = 1; next }
  # A key may follow the header on its line.
  rest = $0; sub(/^[^\]]*\]/, "", rest)
  if (rest ~ /^[ \t]*([#;].*)?$/) { print > out; next }
  header = substr($0, 1, length($0) - length(rest))
  print header > out
  entry(rest)
  next
}
!dropped { entry($0) }
`
