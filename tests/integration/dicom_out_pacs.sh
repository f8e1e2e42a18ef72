#!/usr/bin/env bash
# Sends an sCT series to a PACS the way README says (dcmtk storescu), here dcmtk's dcmqrscp started
# on a free loopback port with its own configuration and database in a temporary folder, then finds
# the series by its SeriesInstanceUID with findscu (C-FIND, study root, SERIES level) and checks that
# the archive holds every slice. The server is always stopped (trap), whatever fails.
# Usage: dicom_out_pacs.sh SERIES_DIR
set -euo pipefail
series="$1"
work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

port="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$work/db"
cat > "$work/dcmqrscp.cfg" <<CFG
NetworkTCPPort  = $port
MaxPDUSize      = 16384
MaxAssociations = 4
HostTable BEGIN
HostTable END
VendorTable BEGIN
VendorTable END
AETable BEGIN
SCTARCHIVE  $work/db  RW  (200, 1024mb)  ANY
AETable END
CFG
# Not --single-process: Debian's dcmqrscp 3.6.7 crashes after the first association in that mode;
# forked, each association has its own process and the server stays up.
dcmqrscp -c "$work/dcmqrscp.cfg" > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 50); do  # until it listens (at most 5 s)
  if echoscu -aet MR2CT -aec SCTARCHIVE 127.0.0.1 "$port" >/dev/null 2>&1; then break; fi
  sleep 0.1
done

uid="$(/usr/bin/python3 -c 'import glob,sys,pydicom; print(pydicom.dcmread(sorted(glob.glob(sys.argv[1]+"/*.dcm"))[0]).SeriesInstanceUID)' "$series")"
study="$(/usr/bin/python3 -c 'import glob,sys,pydicom; print(pydicom.dcmread(sorted(glob.glob(sys.argv[1]+"/*.dcm"))[0]).StudyInstanceUID)' "$series")"

# The README's command: every file of the folder, CT Image Storage proposed.
storescu -aet MR2CT -aec SCTARCHIVE --scan-directories --required 127.0.0.1 "$port" "$series"

findscu -S -aet MR2CT -aec SCTARCHIVE -k QueryRetrieveLevel=SERIES -k StudyInstanceUID="$study" \
  -k SeriesInstanceUID="$uid" -k Modality -X -od "$work" \
  127.0.0.1 "$port" > "$work/find.log" 2>&1 || { cat "$work/find.log"; exit 1; }
found="$(ls "$work"/rsp*.dcm 2>/dev/null | wc -l)"
if [ "$found" -ne 1 ]; then echo "findscu: expected 1 series $uid, got $found"; cat "$work/find.log"; exit 1; fi
# Every slice is in the archive: one IMAGE-level answer per SOP instance of the series.
mkdir -p "$work/images"
findscu -S -aet MR2CT -aec SCTARCHIVE -k QueryRetrieveLevel=IMAGE -k StudyInstanceUID="$study" \
  -k SeriesInstanceUID="$uid" -k SOPInstanceUID -X -od "$work/images" 127.0.0.1 "$port" > "$work/find2.log" 2>&1 \
  || { cat "$work/find2.log"; exit 1; }
/usr/bin/python3 - "$work" "$uid" "$series" <<'PY'
import glob, sys, pydicom
work, uid, series = sys.argv[1:4]
r = pydicom.dcmread(glob.glob(work + "/rsp*.dcm")[0])
assert r.SeriesInstanceUID == uid and r.Modality == "CT", (r.SeriesInstanceUID, uid, r.Modality)
stored = {pydicom.dcmread(f).SOPInstanceUID for f in glob.glob(work + "/images/rsp*.dcm")}
sent = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in glob.glob(series + "/*.dcm")}
assert stored == sent, "archive holds %d of the %d instances sent" % (len(stored & sent), len(sent))
print("dcmqrscp holds CT series %s with all %d instances, found by findscu" % (uid, len(sent)))
PY
