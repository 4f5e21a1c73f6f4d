#!/usr/bin/env bash
# Prints swanpair's EC2 user data (cloud-config.yaml.tmpl beside this script) with its
# parameters filled in; docs/install.md, "From user data".
#   images/user-data/render.sh --appliance-name a1 \
#     --artifact https://example.com/swanpair_0.1.0_amd64.deb --artifact-sha256 HEX >user-data
# Each value must match a strict pattern, so that none can break the YAML or the shell
# script it lands in: nothing is escaped, what could need escaping is refused.
set -euo pipefail

usage() {
  echo "usage: $0 --appliance-name NAME --artifact https://URL|/PATH --artifact-sha256 HEX" >&2
  exit 2
}
fail() {
  echo "render.sh: $*" >&2
  exit 2
}

name="" artifact="" sha256=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage ;;
    --appliance-name | --artifact | --artifact-sha256)
      [ $# -ge 2 ] || fail "$1 needs a value"
      case "$1" in
        --appliance-name) name=$2 ;;
        --artifact) artifact=$2 ;;
        --artifact-sha256) sha256=$2 ;;
      esac
      shift 2
      ;;
    *) fail "unknown argument '$1' (--help for the usage)" ;;
  esac
done

[ -n "$name" ] || fail "--appliance-name is required: the appliance's name in the fleet (appliance.name)"
[ -n "$artifact" ] || fail "--artifact is required: the .deb's https:// URL, or its absolute path on the instance"
[ -n "$sha256" ] || fail "--artifact-sha256 is required: the .deb's SHA-256, from SHA256SUMS"

# The agent's rule for names (docs/configuration.md).
[[ $name =~ ^[A-Za-z][A-Za-z0-9_-]{0,62}$ ]] ||
  fail "--appliance-name '$name' is not a name: a letter, then letters, digits, - and _, at most 63 characters"
# No quote, space, \ or $: the value is single-quoted in the first-boot script.
url_re='^https://[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._~/?&=%+@:-]*$'
path_re='^/[A-Za-z0-9._/+-]+$'
if [[ $artifact == http://* ]]; then
  fail "--artifact '$artifact' is http://: the package must come over https://"
elif ! [[ $artifact =~ $url_re || $artifact =~ $path_re ]]; then
  fail "--artifact '$artifact' is neither an https:// URL nor an absolute path (letters, digits and ._/+-; a URL's query may add ~?&=%@:)"
fi
[[ $sha256 =~ ^[0-9A-Fa-f]{64}$ ]] ||
  fail "--artifact-sha256 '$sha256' is not a SHA-256: 64 hex digits, as in SHA256SUMS"
sha256=${sha256,,}

template="$(dirname "${BASH_SOURCE[0]}")/cloud-config.yaml.tmpl"
text=$(<"$template")
declare -A values=([APPLIANCE_NAME]=$name [ARTIFACT]=$artifact [ARTIFACT_SHA256]=$sha256)
for key in "${!values[@]}"; do
  # A quoted replacement: bash 5.2 would otherwise read & in a URL as the matched text.
  text=${text//"\${$key}"/"${values[$key]}"}
done
if [[ $text =~ \$\{[A-Z0-9_]+\} ]]; then
  fail "the template has a parameter this script does not know: ${BASH_REMATCH[0]}"
fi
printf '%s\n' "$text"
