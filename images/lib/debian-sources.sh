# shellcheck shell=bash
# Sourced by the image builds: debian_sources SUITE prints the host's Debian mirrors for SUITE
# (and its -updates/-security suites) as one-line sources.list entries, whatever the host's
# format, from the indexes apt knows; it runs apt-get update once on a machine that has
# fetched none. Fails, saying so, when apt knows no mirror for SUITE.
_indexed_sources() {
  # shellcheck disable=SC2016 # $(...) are apt's format fields, not the shell's
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
    'Identifier: Packages' 'Origin: Debian' 2>/dev/null |
    awk -v s="$1" '$2 == s || index($2, s "-") == 1' | sort -u |
    awk '{ k = $1 " " $2; if (!(k in c)) { o[++n] = k; c[k] = $3 } else c[k] = c[k] " " $3 }
         END { for (i = 1; i <= n; i++) print "deb " o[i] " " c[o[i]] }'
}

debian_sources() {
  local found
  found=$(_indexed_sources "$1")
  if [ -z "$found" ]; then
    apt-get update -qq # apt has fetched no index yet on a new machine
    found=$(_indexed_sources "$1")
  fi
  [ -n "$found" ] || { echo "apt knows no Debian $1 mirror (see /etc/apt/sources.list*)" >&2; return 1; }
  echo "$found"
}
