#!/usr/bin/env python3
"""A small Redfish service for the tests, for what sushy-emulator lacks: SessionService sessions
(tokens enforced, Basic refused), Chassis Sensors, a LogService with entries and ClearLog, the
Reset action's @Redfish.ActionInfo, Boot.HttpBootUri, and PATCH guarded by ETag (428 without
If-Match, 412 on a stale one). Shapes follow the DMTF schemas (ServiceRoot v1_5, Session v1_0,
ComputerSystem v1_13, ActionInfo v1_1, Sensor v1_2, LogService v1_1, LogEntry v1_4).

usage: redfish_service.py CERT KEY USER PASSWORD   (prints "port N" once listening on 127.0.0.1)
GET /test/state (no auth) shows the sessions alive and the requests seen, for the tests' checks.
"""
import json
import secrets
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CERT, KEY, USER, PASSWORD = sys.argv[1:5]
R = "/redfish/v1"
SYS = R + "/Systems/sys-a"
CH = R + "/Chassis/ch-a"
MGR = R + "/Managers/bmc-a"
LOG = MGR + "/LogServices/SEL"

state = {
    "power": "Off",
    "boot": {"BootSourceOverrideEnabled": "Disabled", "BootSourceOverrideTarget": "None",
             "BootSourceOverrideMode": "UEFI", "HttpBootUri": ""},
    "etag": 1,
    "sessions": {},
    "created": 0,
    "deleted": 0,
    "resets": [],
    "patches": [],
    "entries": [
        {"Id": "1", "Created": "2026-11-24T04:53:51+00:00", "Severity": "Critical",
         "Message": "CPU 1 temperature above upper critical threshold", "EntryType": "SEL"},
        {"Id": "2", "Created": "2026-11-25T10:00:02+00:00", "Severity": "OK",
         "Message": "Power supply 1 restored", "EntryType": "SEL"},
    ],
}


def link(p):
    return {"@odata.id": p}


def sensor(i, name, kind, reading, units, crit=None):
    s = {"@odata.id": f"{CH}/Sensors/{i}", "@odata.type": "#Sensor.v1_2_0.Sensor", "Id": i, "Name": name,
         "ReadingType": kind, "Reading": reading, "ReadingUnits": units}
    if crit is not None:
        s["Thresholds"] = {"UpperCritical": {"Reading": crit}}
    return s


SENSORS = [
    sensor("cpu0", "CPU0 Temp", "Temperature", 96, "Cel", crit=90),
    sensor("inlet", "Inlet Temp", "Temperature", 22.5, "Cel", crit=45),
    sensor("vcore", "VCore", "Voltage", 1.21, "V"),
    sensor("fan1", "Fan 1", "Rotational", 5400, "RPM"),
    sensor("psu", "Total Power", "Power", 312, "W"),
]


def resource(path):
    b = dict(state["boot"])
    b["BootSourceOverrideTarget@Redfish.AllowableValues"] = ["None", "Pxe", "Hdd", "Cd", "BiosSetup", "UefiHttp"]
    b["BootSourceOverrideEnabled@Redfish.AllowableValues"] = ["Disabled", "Once", "Continuous"]
    docs = {
        R + "/": {"@odata.id": R + "/", "@odata.type": "#ServiceRoot.v1_5_0.ServiceRoot", "Id": "RootService",
                  "RedfishVersion": "1.15.0", "Systems": link(R + "/Systems"), "Chassis": link(R + "/Chassis"),
                  "Managers": link(R + "/Managers"), "SessionService": link(R + "/SessionService"),
                  "Links": {"Sessions": link(R + "/SessionService/Sessions")}},
        R + "/Systems": {"Members": [link(SYS)], "Members@odata.count": 1},
        SYS: {"@odata.id": SYS, "@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem", "Id": "sys-a",
              "Name": "Test System", "Manufacturer": "Oxcat Test", "Model": "TS-1", "SerialNumber": "TS0001",
              "AssetTag": "ASSET-A", "UUID": "8f0c0a4e-52c4-4b8e-9c59-1c2f0e3a7d10", "BiosVersion": "2.4.1",
              "PowerState": state["power"], "Boot": b,
              "ProcessorSummary": {"Count": 2}, "MemorySummary": {"TotalSystemMemoryGiB": 64},
              "Processors": link(SYS + "/Processors"), "Memory": link(SYS + "/Memory"),
              "EthernetInterfaces": link(SYS + "/EthernetInterfaces"),
              "Links": {"Chassis": [link(CH)], "ManagedBy": [link(MGR)]},
              "Actions": {"#ComputerSystem.Reset": {"target": SYS + "/Actions/ComputerSystem.Reset",
                                                    "@Redfish.ActionInfo": SYS + "/ResetActionInfo"}},
              "@odata.etag": f'W/"{state["etag"]}"'},
        SYS + "/ResetActionInfo": {"@odata.type": "#ActionInfo.v1_1_2.ActionInfo", "Id": "ResetActionInfo",
                                   "Parameters": [{"Name": "ResetType", "Required": True, "DataType": "String",
                                                   "AllowableValues": ["On", "ForceOff", "GracefulShutdown",
                                                                       "PowerCycle", "ForceRestart"]}]},
        SYS + "/Processors": {"Members": [link(SYS + "/Processors/CPU0"), link(SYS + "/Processors/CPU1")]},
        SYS + "/Processors/CPU0": {"Id": "CPU0", "Model": "Test CPU 3000", "TotalCores": 16},
        SYS + "/Processors/CPU1": {"Id": "CPU1", "Model": "Test CPU 3000", "TotalCores": 16},
        SYS + "/Memory": {"Members": [link(SYS + "/Memory/DIMM0")]},
        SYS + "/Memory/DIMM0": {"Id": "DIMM0", "CapacityMiB": 65536},
        SYS + "/EthernetInterfaces": {"Members": [link(SYS + "/EthernetInterfaces/1")]},
        SYS + "/EthernetInterfaces/1": {"Id": "1", "MACAddress": "52:54:00:AA:BB:01"},
        R + "/Chassis": {"Members": [link(CH)]},
        CH: {"@odata.id": CH, "Id": "ch-a", "Sensors": link(CH + "/Sensors")},
        CH + "/Sensors": {"Members": [link(s["@odata.id"]) for s in SENSORS]},
        R + "/Managers": {"Members": [link(MGR)]},
        MGR: {"@odata.id": MGR, "Id": "bmc-a", "FirmwareVersion": "5.10", "Model": "TestBMC",
              "LogServices": link(MGR + "/LogServices")},
        MGR + "/LogServices": {"Members": [link(LOG)]},
        LOG: {"@odata.id": LOG, "@odata.type": "#LogService.v1_1_0.LogService", "Id": "SEL",
              "Entries": link(LOG + "/Entries"),
              "Actions": {"#LogService.ClearLog": {"target": LOG + "/Actions/LogService.ClearLog"}}},
        # Members inline, as many BMCs send them.
        LOG + "/Entries": {"Members": [dict(e, **{"@odata.id": f"{LOG}/Entries/{e['Id']}"})
                                       for e in state["entries"]]},
    }
    for s in SENSORS:
        docs[s["@odata.id"]] = s
    return docs.get(path)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body=None, headers=()):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, code, msg):
        self.send(code, {"error": {"code": "Base.1.8.GeneralError", "message": msg,
                                   "@Message.ExtendedInfo": [{"Message": msg}]}})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def authed(self):
        tok = self.headers.get("X-Auth-Token")
        if tok in state["sessions"]:
            return True
        self.error(401, "authentication required (X-Auth-Token of a session)")
        return False

    def path_only(self):
        return self.path.split("?")[0]

    def do_GET(self):
        p = self.path_only()
        if p == "/test/state":
            return self.send(200, {k: state[k] for k in ("power", "boot", "created", "deleted", "resets", "patches")}
                             | {"alive": len(state["sessions"])})
        if p in (R, R + "/"):
            return self.send(200, resource(R + "/"))
        if not self.authed():
            return
        doc = resource(p)
        if doc is None:
            return self.error(404, f"{p} not found")
        headers = [("ETag", f'W/"{state["etag"]}"')] if p == SYS else []
        self.send(200, doc, headers)

    def do_POST(self):
        p = self.path_only()
        b = self.body()  # read whole before any answer: the connection is kept
        if p == R + "/SessionService/Sessions":
            if b.get("UserName") != USER or b.get("Password") != PASSWORD:
                return self.error(401, "invalid credentials")
            tok = secrets.token_hex(16)
            sid = str(state["created"] + 1)
            state["sessions"][tok] = sid
            state["created"] += 1
            loc = f"{R}/SessionService/Sessions/{sid}"
            return self.send(201, {"@odata.id": loc, "Id": sid, "UserName": USER},
                             [("X-Auth-Token", tok), ("Location", loc)])
        if not self.authed():
            return
        if p == SYS + "/Actions/ComputerSystem.Reset":
            t = b.get("ResetType")
            if t not in ("On", "ForceOff", "GracefulShutdown", "PowerCycle", "ForceRestart"):
                return self.error(400, f"ResetType {t} not allowed")
            state["resets"].append(t)
            state["power"] = "Off" if t in ("ForceOff", "GracefulShutdown") else "On"
            return self.send(204)
        if p == LOG + "/Actions/LogService.ClearLog":
            state["entries"] = []
            return self.send(204)
        self.error(404, f"{p} not found")

    def do_PATCH(self):
        p = self.path_only()
        b = self.body().get("Boot", {})
        if not self.authed():
            return
        if p != SYS:
            return self.error(405, "not patchable")
        tag = self.headers.get("If-Match")
        if tag is None:
            return self.error(428, "If-Match required")
        if tag != f'W/"{state["etag"]}"':
            return self.error(412, "ETag does not match")
        state["patches"].append(b)
        state["boot"].update(b)
        state["etag"] += 1
        self.send(204)

    def do_DELETE(self):
        p = self.path_only()
        if not self.authed():
            return
        tok = self.headers.get("X-Auth-Token")
        sid = state["sessions"][tok]
        if p != f"{R}/SessionService/Sessions/{sid}":
            return self.error(404, f"{p} not found")
        del state["sessions"][tok]
        state["deleted"] += 1
        self.send(204)


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(f"port {srv.server_address[1]}", flush=True)
srv.serve_forever()
