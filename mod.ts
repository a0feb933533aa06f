/**
 * nslink: container networking for Deno and Bun, in TypeScript, with no native compilation.
 *
 * - {@linkcode newNetwork} / {@linkcode Network} and {@linkcode newNetworkNamespace} /
 *   {@linkcode Namespace}: Docker's original libnetwork API — a network of a driver type
 *   (`bridge`, `null`, `host`; `overlay` across hosts, state in etcd) hands out a container's
 *   {@linkcode Interface} values, and a namespace mounted at a path takes them in. State is saved under `/run/nslink` so that no
 *   crash can corrupt it and several processes can share a network; {@linkcode gc} cleans up
 *   after processes killed midway.
 * - {@linkcode Rtnl}: links (veth, bridge, macvlan, ipvlan, vlan, vxlan), addresses, routes,
 *   neighbours and bridge FDB entries
 *   over rtnetlink, in any network namespace — never by running `ip`.
 * - {@linkcode NetNs}: network namespaces mounted at a path, as `ip netns` makes them.
 * - {@linkcode Nftables}: nf_tables over `NETLINK_NETFILTER` (atomic batches, decoded dumps), on
 *   which nslink's own firewall (published ports, masquerade, isolation) is built.
 * - The netlink codec and socket underneath, for anything else rtnetlink offers.
 *
 * Permissions: Deno needs `--allow-ffi` (it binds libc with `Deno.dlopen`; `--unstable-ffi`
 * before Deno 2.9) and, for namespaces and state files, `--allow-read --allow-write`. Bun needs
 * nothing. Creating links and namespaces needs root (`CAP_NET_ADMIN`, `CAP_SYS_ADMIN`).
 *
 * @example The libnetwork API
 * ```ts ignore
 * import { newNetwork, newNetworkNamespace } from "./mod.ts";
 * const network = await newNetwork("bridge", "blue", {
 *   subnet: "198.51.100.0/24",
 *   subnetIPv6: "2001:db8:1::/64",
 * });
 * const ns = await newNetworkNamespace("/run/netns/c1");
 * for (const iface of await network.link("c1")) await ns.addInterface(iface);
 * ns.interfaces; // [{ srcName, dstName: "eth0", macAddress, address: "198.51.100.2/24", … }]
 * await ns.delete();
 * await network.unlink("c1");
 * await network.delete();
 * ```
 *
 * @example A veth pair with one end in a new namespace
 * ```ts ignore
 * import { NetNs, Rtnl } from "./mod.ts";
 * const ns = NetNs.create("c1");
 * using host = Rtnl.open();
 * host.link.add({ kind: "veth", name: "nsl0a", up: true, peer: { name: "eth0", netns: ns } });
 * using inside = Rtnl.open({ netns: ns });
 * inside.link.set("eth0", { up: true });
 * inside.addr.add("eth0", "198.51.100.2/24");
 * inside.route.add({ gateway: "198.51.100.1" });
 * ns.delete();
 * ```
 *
 * @module
 */
export {
  type EndpointInfo,
  type LinkOptions,
  listNetworks,
  Network,
  type NetworkOptions,
  type NetworkWatcher,
  newNetwork,
  openNetwork,
  type OpenOptions,
  repairFirewall,
} from "./network/network.ts";
export type { UnpublishSpec } from "./network/publish.ts";
export { gc, type GcOptions, type GcReport } from "./network/gc.ts";
export {
  bootId,
  DEFAULT_CONFIG_DIR,
  Definitions,
  type NetworkDefinition,
} from "./network/definitions.ts";
export {
  type ClaimResult,
  type EndpointChange,
  FileStore,
  type HostedStore,
  LocalStore,
  StaleNetworkError,
  type Store,
  type StoreWatch,
  type SyncStore,
} from "./network/store.ts";
export { type FileChange, FileWatch } from "./network/store_watch.ts";
export type { Owner } from "./model/owner.ts";
export type { PortBinding, PortSpec } from "./netfilter/ports.ts";
export type { Protocol } from "./netfilter/ruleset.ts";
export { forwardDropChains } from "./firewall/firewall.ts";
export {
  FirewallRepair,
  type FirewallRepairOptions,
  type RepairInfo,
  type RepairReason,
} from "./firewall/repair.ts";
// After network.ts: the overlay driver extends Network and registers itself with newNetwork.
export {
  type OverlayConfig,
  overlayDevices,
  type OverlayEndpoint,
  overlayKeys,
  OverlayNetwork,
  type OverlayOptions,
} from "./network/overlay.ts";
export {
  type OverlayConflict,
  OverlayHost,
  type OverlayHostOptions,
  type RegisteredEndpoint,
} from "./network/overlay_host.ts";
export {
  type DistributedDriver,
  isDistributed,
  overlayDriver,
  type OverlayDriverConfig,
  type RemoteEndpoint,
} from "./drivers/overlay.ts";
export {
  checkRemote,
  OverlayWatcher,
  type OverlayWatcherOptions,
  type Remote,
} from "./network/overlay_watcher.ts";
export { type KvStore, openStore } from "./store/store.ts";
export { decodeRecord, EtcdStore, etcdStoreKeys } from "./network/store_etcd.ts";
export {
  type AnswerContext,
  type AnswerKind,
  type Answers,
  type CmpResult,
  type Compare,
  decodeAnswer,
  EtcdClient,
  type EtcdClientOptions,
  EtcdError,
  type EtcdTlsOptions,
  type KeyValue,
  parseEtcdUrl,
  prefixEnd,
  type RangeResult,
  type TxnOp,
  type TxnResult,
  type Watch,
  type WatchEvent,
  type WatchHandlers,
  type WatchMessage,
} from "./store/etcd.ts";
export { Namespace, newNetworkNamespace, openNetworkNamespace } from "./network/namespace.ts";
// The host agent (DNS names of every network); importing the client registers it with networks.
export {
  agentCommandLine,
  type AgentReply,
  askAgent,
  ensureAgent,
  type EnsureAgentOptions,
  settleAgent,
} from "./agent/client.ts";
export { agentPaths } from "./agent/agent.ts";
export { type Interface, macForIPv4 } from "./model/interface.ts";
export { getDriver, knownTypes, registerDriver } from "./drivers/registry.ts";
export type {
  Driver,
  DriverContext,
  EndpointOptions,
  EndpointRecord,
  EndpointState,
  LinkTarget,
  NetworkRecord,
  NetworkState,
} from "./drivers/driver.ts";
export { type BridgeConfig, bridgeDriver, linkAlias, parseLinkAlias } from "./drivers/bridge.ts";
export { IpamExhaustedError, type Pool } from "./model/ipam.ts";
export {
  DEFAULT_LOCK_TIMEOUT_MS,
  DEFAULT_STATE_DIR,
  defaultStateDir,
  type LockOptions,
  LockTimeoutError,
  type StateLock,
  StateStore,
} from "./network/state.ts";
export { Rtnl, type RtnlBatch, type RtnlOptions } from "./rtnl/handle.ts";
export {
  type MonitorAction,
  type MonitorGroup,
  type MonitorOptions,
  type Neighbour,
  type RtnlEvent,
  RtnlMonitor,
} from "./rtnl/monitor.ts";
export {
  type IpvlanMode,
  type Link,
  type LinkChanges,
  type LinkCommon,
  LinkOps,
  type LinkRef,
  type LinkSpec,
  type MacvlanMode,
  type NetnsFd,
  type VethPeer,
  vxlanFamily,
  type VxlanOptions,
  vxlanOverhead,
} from "./rtnl/link.ts";
export { type Address, AddrOps, type AddrOptions } from "./rtnl/address.ts";
export { type Route, RouteOps, type RouteSpec } from "./rtnl/route.ts";
export { LinkedOps } from "./rtnl/ops.ts";
export {
  type FdbEntry,
  FdbOps,
  type FdbSpec,
  type NeighEntry,
  NeighOps,
  type NeighSpec,
  type NeighState,
} from "./rtnl/neigh.ts";
export { NetNs, NETNS_RUN_DIR, netnsPath } from "./netns/netns.ts";
export { SPARE_START_AT, spareNetnsState, startSpareNetns, stopSpareNetns } from "./netns/spare.ts";
export { withNetns, withNewNetns } from "./ffi/enter.ts";
export {
  type BatchRequest,
  DumpInterruptedError,
  encodeRequest,
  NetlinkSocket,
  type NetlinkSocketOptions,
  type NetlinkTransport,
  type RawMessage,
  type RequestContext,
  type SeqMessage,
} from "./netlink/socket.ts";
export { NetlinkDecodeError, NetlinkError } from "./netlink/errors.ts";
export {
  type EventStreamOptions,
  NetlinkEventStream,
  type OverrunEvent,
} from "./netlink/events.ts";
export {
  align4,
  type AnyCodec,
  type AnyDef,
  attr,
  type AttrCodec,
  type AttrDef,
  type AttrInputs,
  attrs,
  type AttrSet,
  type AttrValues,
  be16,
  be32,
  be64,
  bei32,
  byKind,
  bytes,
  type ChoiceInput,
  type ChoiceValue,
  cstring,
  decode,
  encode,
  type Field,
  flag,
  i32,
  type KindSelect,
  list,
  type ListCodec,
  message,
  type MessageInput,
  type MessageOf,
  type MessageSchema,
  nested,
  pad,
  type PadField,
  string,
  type Struct,
  struct,
  type StructValue,
  u16,
  u32,
  u64,
  u8,
} from "./netlink/codec.ts";
export * as constants from "./netlink/constants.ts";
export {
  Nftables,
  type NftablesOptions,
  type NftChain,
  type NftExpressionValue,
  type NftRule,
  type NftSet,
  type NftSetElement,
  type NftTable,
} from "./netfilter/nftables.ts";
export { attributeAt, batchErrors, encodeBatch, NftError, type NftOp } from "./netfilter/batch.ts";
export * as nfConstants from "./netfilter/constants.ts";
export { FfiUnavailableError, SyscallError } from "./ffi/errors.ts";
export * as dns from "./dns/mod.ts";
