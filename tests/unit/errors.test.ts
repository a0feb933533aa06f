// Error formats: NetlinkError, SyscallError, errno names and texts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ERRNO, errnoName, errnoText } from "../../ffi/errno.ts";
import { FfiUnavailableError, SyscallError } from "../../ffi/errors.ts";
import { NetlinkError } from "../../netlink/errors.ts";
import { messageTypeName } from "../../netlink/header.ts";
import { DumpInterruptedError } from "../../netlink/socket.ts";
import { describeLink, LinkOps } from "../../rtnl/link.ts";
import { RecordingTransport } from "./_recorder.ts";

describe("NetlinkError", () => {
  it("names the request, the object and the errno", () => {
    const err = new NetlinkError("RTM_NEWLINK", 'veth "nsl0a"', 17);
    assert.equal(err.message, 'RTM_NEWLINK veth "nsl0a": EEXIST (File exists)');
    assert.equal(err.name, "NetlinkError");
    assert.equal(err.op, "RTM_NEWLINK");
    assert.equal(err.object, 'veth "nsl0a"');
    assert.equal(err.errno, 17);
    assert.equal(err.code, "EEXIST");
    assert.equal(err.extack, undefined);
    assert.equal(err.extackOffset, undefined);
    assert.ok(err instanceof Error);
    assert.equal(String(err), 'NetlinkError: RTM_NEWLINK veth "nsl0a": EEXIST (File exists)');
  });

  it("appends the kernel's extended-ACK text", () => {
    const err = new NetlinkError(
      "RTM_NEWLINK",
      'link "nsl0a"',
      22,
      "mtu greater than device maximum",
      36,
    );
    assert.equal(
      err.message,
      'RTM_NEWLINK link "nsl0a": EINVAL (Invalid argument): mtu greater than device maximum',
    );
    assert.equal(err.extack, "mtu greater than device maximum");
    assert.equal(err.extackOffset, 36);
  });

  it("leaves the object out when there is none", () => {
    assert.equal(
      new NetlinkError("RTM_GETLINK", "", 19).message,
      "RTM_GETLINK: ENODEV (No such device)",
    );
  });

  it("names an errno it does not know by number", () => {
    const err = new NetlinkError("RTM_NEWROUTE", "default", 999);
    assert.equal(err.message, "RTM_NEWROUTE default: E999 (Unknown error 999)");
    assert.equal(err.code, "E999");
  });

  it("DumpInterruptedError is an EINTR NetlinkError that says every attempt was interrupted", () => {
    const last = [{ type: 16, flags: 0x22, payload: new Uint8Array(16) }];
    const err = new DumpInterruptedError("RTM_GETLINK", "links", last, 6);
    assert.ok(err instanceof NetlinkError);
    assert.equal(err.name, "DumpInterruptedError");
    assert.equal(err.code, "EINTR");
    assert.equal(
      err.message,
      "RTM_GETLINK links: EINTR (Interrupted system call): dump interrupted by concurrent " +
        "changes (NLM_F_DUMP_INTR) on all 6 attempts",
    );
    assert.equal(err.messages, last, "the last attempt's replies come with it");
  });

  it("LinkOps.find() turns ENODEV into undefined, and get() throws it", () => {
    const rec = new RecordingTransport({ links: { nsl0a: 3 } });
    const ops = new LinkOps(rec);
    assert.equal(ops.find("nslnope0"), undefined);
    assert.throws(() => ops.get("nslnope0"), {
      name: "NetlinkError",
      message: 'RTM_GETLINK link "nslnope0": ENODEV (No such device)',
    });
    assert.equal(ops.get("nsl0a").index, 3);
    assert.equal(ops.find(3)?.name, "nsl0a");
  });
});

describe("SyscallError", () => {
  it("names the call, the object and the errno", () => {
    const err = new SyscallError("setns", '"/run/netns/c1" CLONE_NEWNET', 1);
    assert.equal(
      err.message,
      'setns "/run/netns/c1" CLONE_NEWNET: EPERM (Operation not permitted)',
    );
    assert.equal(err.name, "SyscallError");
    assert.equal(err.call, "setns");
    assert.equal(err.object, '"/run/netns/c1" CLONE_NEWNET');
    assert.equal(err.errno, 1);
    assert.equal(err.code, "EPERM");
  });

  it("leaves the object out when there is none, and keeps a cause", () => {
    const cause = new Error("inner");
    const err = new SyscallError("close", "", 9, { cause });
    assert.equal(err.message, "close: EBADF (Bad file descriptor)");
    assert.equal(err.cause, cause);
  });

  it("FfiUnavailableError keeps its message and cause", () => {
    const cause = new Error("dlopen failed");
    const err = new FfiUnavailableError("nslink needs Linux", { cause });
    assert.equal(err.name, "FfiUnavailableError");
    assert.equal(err.message, "nslink needs Linux");
    assert.equal(err.cause, cause);
  });
});

describe("errno names and texts", () => {
  const CASES: [number, string, string][] = [
    [1, "EPERM", "Operation not permitted"],
    [2, "ENOENT", "No such file or directory"],
    [4, "EINTR", "Interrupted system call"],
    [9, "EBADF", "Bad file descriptor"],
    [11, "EAGAIN", "Resource temporarily unavailable"],
    [16, "EBUSY", "Device or resource busy"],
    [17, "EEXIST", "File exists"],
    [19, "ENODEV", "No such device"],
    [22, "EINVAL", "Invalid argument"],
    [95, "EOPNOTSUPP", "Operation not supported"],
    [101, "ENETUNREACH", "Network is unreachable"],
    [105, "ENOBUFS", "No buffer space available"],
    [107, "ENOTCONN", "Transport endpoint is not connected"],
  ];
  for (const [errno, name, text] of CASES) {
    it(`${errno} is ${name} (${text})`, () => {
      assert.equal(errnoName(errno), name);
      assert.equal(errnoText(errno), text);
    });
  }

  it("35 is EDEADLK, the kernel's name (EDEADLOCK is its alias)", () => {
    // <asm-generic/errno.h> defines EDEADLK 35 and EDEADLOCK as an alias, and
    // strerrorname_np(35) is "EDEADLK" (ERRNO[35] once said "EDEADLOCK").
    assert.equal(errnoName(35), "EDEADLK");
  });

  it("unknown numbers get E<n> and Unknown error <n>", () => {
    assert.equal(errnoName(0), "E0");
    assert.equal(errnoName(41), "E41"); // unused on Linux
    assert.equal(errnoText(4242), "Unknown error 4242");
  });

  it("every table entry has an E-name and a text", () => {
    for (const [n, [name, text]] of Object.entries(ERRNO)) {
      assert.match(name, /^E[A-Z0-9]+$/, `errno ${n}`);
      assert.ok(text.length > 0, `errno ${n}`);
    }
  });
});

describe("names used in messages", () => {
  it("messageTypeName() names the rtnetlink types and numbers the rest", () => {
    assert.equal(messageTypeName(16), "RTM_NEWLINK");
    assert.equal(messageTypeName(17), "RTM_DELLINK");
    assert.equal(messageTypeName(20), "RTM_NEWADDR");
    assert.equal(messageTypeName(24), "RTM_NEWROUTE");
    assert.equal(messageTypeName(26), "RTM_GETROUTE");
    assert.equal(messageTypeName(99), "nlmsg_type 99");
  });

  it("describeLink() quotes names and not indexes", () => {
    assert.equal(describeLink("nsl0a"), 'link "nsl0a"');
    assert.equal(describeLink(7), "link 7");
    assert.equal(describeLink("nsl0a", "veth"), 'veth "nsl0a"');
  });
});
