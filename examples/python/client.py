"""A checkpost client that is not ours: Python grpcio with stubs generated from ../../proto.

Usage: python client.py SERVER_ADDR   (e.g. 127.0.0.1:50051)

Generates the stubs into ./checkpost_pb/ (gitignored) with grpcio-tools, then screens sample
passengers and asserts on each decision. Exits non-zero on the first failed assertion.
"""

import datetime
import pathlib
import sys
import uuid

HERE = pathlib.Path(__file__).resolve().parent
PROTO = HERE.parent.parent / "proto"
OUT = HERE / "checkpost_pb"


def generate_stubs():
    """Compile proto/checkpost/v1/*.proto into ./checkpost_pb (Python messages + gRPC stubs)."""
    import grpc_tools
    from grpc_tools import protoc

    OUT.mkdir(exist_ok=True)
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    files = sorted(str(p) for p in (PROTO / "checkpost" / "v1").glob("*.proto"))
    code = protoc.main(
        ["grpc_tools.protoc", f"-I{PROTO}", f"-I{well_known}", f"--python_out={OUT}",
         f"--grpc_python_out={OUT}", *files]
    )
    if code != 0:
        sys.exit(f"protoc failed with exit code {code}")
    sys.path.insert(0, str(OUT))


def check_digit(field: str) -> str:
    """ICAO 9303 7-3-1 check digit."""
    values = {"<": 0, **{str(d): d for d in range(10)},
              **{chr(ord("A") + i): 10 + i for i in range(26)}}
    return str(sum(values[c] * (7, 3, 1)[i % 3] for i, c in enumerate(field)) % 10)


def td3(surname, given, number, nationality, dob, sex, expiry, personal=""):
    """A valid TD3 (passport) MRZ; dates as YYMMDD."""
    name = f"{surname}<<{given.replace(' ', '<')}"
    line1 = f"P<{nationality}{name}".ljust(44, "<")[:44]
    num = number.ljust(9, "<")
    pers = personal.ljust(14, "<")
    body = (f"{num}{check_digit(num)}{nationality}{dob}{check_digit(dob)}{sex}"
            f"{expiry}{check_digit(expiry)}{pers}{check_digit(pers)}")
    composite = body[0:10] + body[13:20] + body[21:43]
    return f"{line1}\n{body}{check_digit(composite)}"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: client.py SERVER_ADDR")
    generate_stubs()
    import grpc
    from checkpost.v1 import common_pb2, screening_pb2, screening_pb2_grpc

    channel = grpc.insecure_channel(sys.argv[1])
    grpc.channel_ready_future(channel).result(timeout=30)
    stub = screening_pb2_grpc.ScreeningStub(channel)
    expiry = (datetime.date.today() + datetime.timedelta(days=5 * 365)).strftime("%y%m%d")

    def screen(mrz, request_id=None, direction=common_pb2.DEPARTURE):
        req = screening_pb2.ScreenRequest(
            client_request_id=request_id or str(uuid.uuid4()), post_id="PY-CLIENT",
            counter_id="P-01", officer_id="0000", direction=direction, mrz=mrz,
            travel=screening_pb2.TravelDetails(destination="GBR", visa_type="VISIT"))
        return stub.Screen(req, timeout=10)

    failures = 0

    def expect(what, ok, detail):
        nonlocal failures
        print(f"{'ok  ' if ok else 'FAIL'} {what}: {detail}")
        failures += 0 if ok else 1

    # 1. A passenger on no list, with a valid passport: CLEAR.
    clear = td3("QURESHI", "HAMZA", "ZZ7000001", "PAK", "900115", "M", expiry)
    r = screen(clear)
    names = [common_pb2.Decision.Name(r.decision)] + [x.code for x in r.reasons]
    expect("unlisted passenger is CLEAR", r.decision == common_pb2.CLEAR, names)

    # 2. The fixture watchlist's ECL-0001 by passport number, departing: OFFLOAD or stronger.
    listed = td3("KHAN", "MUHAMMAD ASIF", "AB1234567", "PAK", "790314", "M", expiry,
                 "3520212345671")
    rid = str(uuid.uuid4())
    r = screen(listed, request_id=rid)
    hit = [x for x in r.reasons if x.entry_id == "ECL-0001"]
    expect("ECL passenger is OFFLOAD on departure",
           r.decision >= common_pb2.OFFLOAD and hit and
           hit[0].match_kind in (common_pb2.DOCUMENT, common_pb2.NATIONAL_ID),
           [common_pb2.Decision.Name(r.decision)] + [f"{x.code}:{x.entry_id}" for x in r.reasons])

    # 3. A retry with the same request id replays the same decision.
    again = screen(listed, request_id=rid)
    expect("retry is replayed", again.replayed and again.screening_id == r.screening_id
           and again.decision == r.decision, f"replayed={again.replayed}")

    # 4. A malformed MRZ is INVALID_ARGUMENT naming the field.
    try:
        screen("P<PAKKHAN<<MUHAMMAD\nAB1234567")
        expect("malformed MRZ is refused", False, "the call succeeded")
    except grpc.RpcError as e:
        expect("malformed MRZ is INVALID_ARGUMENT naming mrz",
               e.code() == grpc.StatusCode.INVALID_ARGUMENT and "mrz" in e.details(),
               f"{e.code()} {e.details()}")

    if failures:
        sys.exit(f"{failures} check(s) failed")
    print("python client: all checks passed")


if __name__ == "__main__":
    main()
