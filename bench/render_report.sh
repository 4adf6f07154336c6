#!/usr/bin/env bash
# Opens a run's report.html in headless Chromium (Debian `chromium`, installed here when
# missing and we are root; never needed by CI), checks that the page drew its timeline and
# plots, and saves a screenshot.
#
#   bench/render_report.sh [RUN_DIR|REPORT.html] [OUT.png] [FRAGMENT]
#     RUN_DIR    default results/latest
#     OUT.png    default report.png
#     FRAGMENT   e.g. op-86: also loads report.html#op-86 and checks that the timeline drew
#                and outlined that op (headless screenshots of a scrolled page come out blank,
#                so the screenshot is always of the page from the top, in a tall window)
# Prints the time Chromium took, the number of timeline ops drawn and of plot images; exits 1
# when the timeline drew nothing.
set -euo pipefail
target=${1:-results/latest}
[ -d "$target" ] && target=$target/report.html
out=${2:-report.png}
frag=${3:-}
[ -f "$target" ] || { echo "render_report: $target: no such report" >&2; exit 1; }

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "render_report: chromium missing: sudo apt-get install chromium" >&2
    exit 1
  fi
  echo "render_report: installing chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium
fi

url="file://$(realpath "$target")"
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --mute-audio
       --virtual-time-budget=10000 --window-size=1280,4200)
start=$(date +%s.%N)
dom=$(chromium "${flags[@]}" --dump-dom "$url" 2>/dev/null)
end=$(date +%s.%N)
ops=$(grep -o 'class="op [a-z]*' <<<"$dom" | wc -l || true)
plots=$(grep -o '<img class="plot"' <<<"$dom" | wc -l || true)
chromium "${flags[@]}" --screenshot="$out" "$url" >/dev/null 2>&1
# The page's own clock: a copy of the page logs performance.now() at its load event (the
# timeline's script has run by then); Chromium's start-up and DOM dump are not in it.
timed=$(mktemp --suffix=.html "$(dirname "$(realpath "$target")")/.render-XXXXXX")
shot=$(mktemp --suffix=.png)
trap 'rm -f "$timed" "$shot"' EXIT
sed 's|</body>|<script>addEventListener("load",function(){console.log("FLTIME "+performance.now().toFixed(0))})</script></body>|' \
  "$target" >"$timed"
page_ms=$(chromium "${flags[@]}" --enable-logging=stderr --v=0 --screenshot="$shot" \
  "file://$timed" 2>&1 | grep -o 'FLTIME [0-9]*' | awk '{print $2}' | tail -1 || true)
if [ -n "$frag" ]; then
  if chromium "${flags[@]}" --dump-dom "$url#$frag" 2>/dev/null | grep -q "id=\"$frag\"[^>]*class=\"op [a-z]* hl\"\|class=\"op [a-z]* hl\"[^>]*id=\"$frag\""; then
    echo "linked op $frag: drawn and outlined"
  else
    echo "linked op $frag: NOT outlined"
  fi
fi
printf 'report: %s (%s bytes)\nchromium start+load+script+dump: %.2f s\npage load event: %s ms\ntimeline ops drawn: %s\nplots: %s\nscreenshot: %s\n' \
  "$target" "$(stat -c %s "$target")" "$(awk -v a="$start" -v b="$end" 'BEGIN{print b-a}')" "${page_ms:-?}" "$ops" "$plots" "$out"
[ "$ops" -gt 0 ]
