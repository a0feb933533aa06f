/**
 * The CNI wire types the plugin reads and writes (spec 1.0.0/1.1.0, with the 0.3/0.4 result
 * shape where it differs), and the invocation arguments the dispatcher hands the plugin.
 *
 * @module
 */

/** One interface of a result. */
export interface CniInterface {
  /** Name. */
  name: string;
  /** MAC address. */
  mac?: string;
  /** MTU (1.1.0). */
  mtu?: number;
  /** The namespace path when the interface is inside a container; absent on the host. */
  sandbox?: string;
}

/** One IP of a result. */
export interface CniIP {
  /** `4` or `6`: only before 1.0.0. */
  version?: "4" | "6";
  /** The address with prefix. */
  address: string;
  /** The default gateway of this subnet. */
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

/** One route of a result. */
export interface CniRoute {
  /** Destination prefix. */
  dst: string;
  /** Next hop. */
  gw?: string;
}

/** DNS settings of a result. */
export interface CniDns {
  /** Name servers. */
  nameservers?: string[];
  /** Local domain. */
  domain?: string;
  /** Search domains. */
  search?: string[];
  /** resolv.conf options. */
  options?: string[];
}

/** A result (ADD output, `prevResult`). */
export interface CniResult {
  /** The spec version the result is in. */
  cniVersion: string;
  /** Interfaces created or known. */
  interfaces?: CniInterface[];
  /** IPs assigned. */
  ips?: CniIP[];
  /** Routes added. */
  routes?: CniRoute[];
  /** DNS settings. */
  dns?: CniDns;
}

/** One port mapping from `runtimeConfig.portMappings` (the `portMappings` capability). */
export interface CniPortMapping {
  /** Host port. */
  hostPort: number;
  /** Container port. */
  containerPort: number;
  /** `tcp`, `udp` or `sctp`. */
  protocol?: string;
  /** Host address; empty: all. */
  hostIP?: string;
}

/** The network configuration on stdin (after the runtime's conversion from a conflist). */
export interface CniNetConf {
  /** Spec version. */
  cniVersion: string;
  /** The network configuration's name. */
  name: string;
  /** The plugin type, `nslink`. */
  type: string;
  /** Previous plugin's result, when chained. */
  prevResult?: CniResult;
  /** What the runtime passes for declared capabilities. */
  runtimeConfig?: {
    portMappings?: CniPortMapping[];
    ips?: string[];
    /** The `aliases` capability: `--network-alias` values (and the short id) by network. */
    aliases?: Record<string, string[]>;
  };
  /** GC: the attachments to keep. */
  "cni.dev/valid-attachments"?: { containerID: string; ifname: string }[];
  /** Everything else (plugin fields). */
  [field: string]: unknown;
}

/** What the runtime tells the plugin through `CNI_*` variables, read by the dispatcher. */
export interface CniArgs {
  /** `CNI_COMMAND`. */
  command: string;
  /** `CNI_CONTAINERID`. */
  containerId: string;
  /** `CNI_NETNS`: the container's namespace path. */
  netns: string;
  /** `CNI_IFNAME`: the interface name inside. */
  ifname: string;
  /** `CNI_ARGS`, split into pairs. */
  args: Record<string, string>;
  /** `CNI_PATH`, split. */
  path: string[];
  /** The state directory: `NSLINK_STATE_DIR` from the environment, or the default. */
  stateDir?: string;
  /** DEL: see `Output.committed` in cni/skel.ts (set by a host agent serving the request). */
  committed?: () => void;
}
