import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AddressBook } from "../../network/addressbook.ts";
import { createPool, IpamExhaustedError } from "../../model/ipam.ts";

/** A toy store: a set of reserved addresses, and a count of full listings. */
function store(initial: string[] = []) {
  const taken = new Set(initial);
  const s = {
    taken,
    lists: 0,
    list: () => {
      s.lists++;
      return Promise.resolve([...taken]);
    },
    reserve: (a: string) => Promise.resolve(taken.has(a) ? false : (taken.add(a), true)),
  };
  return s;
}

describe("AddressBook", () => {
  it("hands out the lowest free address, listing the store once", async () => {
    const pool = createPool("198.51.100.0/29");
    const s = store(["198.51.100.3"]);
    const book = new AddressBook();
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await book.take(pool, s.list, s.reserve));
    assert.deepEqual(got, [
      "198.51.100.2/29",
      "198.51.100.4/29",
      "198.51.100.5/29",
      "198.51.100.6/29",
    ]);
    assert.equal(s.lists, 1);
    // Full (the gateway .1 and broadcast .7 are never handed out): one more look, then refuse.
    await assert.rejects(book.take(pool, s.list, s.reserve), IpamExhaustedError);
    assert.equal(s.lists, 2);
  });

  it("skips what another process took meanwhile, and reuses what this one released", async () => {
    const pool = createPool("2001:db8:1::/64");
    const s = store();
    const book = new AddressBook();
    assert.equal(await book.take(pool, s.list, s.reserve), "2001:db8:1::2/64");
    s.taken.add("2001:db8:1::3"); // another process, behind the book's back
    assert.equal(await book.take(pool, s.list, s.reserve), "2001:db8:1::4/64");
    s.taken.delete("2001:db8:1::2");
    book.note([pool], "2001:db8:1::2", false);
    assert.equal(await book.take(pool, s.list, s.reserve), "2001:db8:1::2/64");
    assert.equal(s.lists, 1);
  });

  it("finds addresses another process freed once the store is listed again", async () => {
    const pool = createPool("198.51.100.0/30"); // one address: .2
    const s = store(["198.51.100.2"]);
    const book = new AddressBook();
    await assert.rejects(book.take(pool, s.list, s.reserve), IpamExhaustedError);
    s.taken.clear(); // freed elsewhere
    assert.equal(await book.take(pool, s.list, s.reserve), "198.51.100.2/30");
  });
});
