/**
 * Shared values for the nf_tables unit tests.
 *
 * @module
 */
import type { FirewallNetwork } from "../../netfilter/ruleset.ts";

/** The networks tests/fixtures/nft/ruleset.nft describes. */
export const GOLDEN_NETWORKS: FirewallNetwork[] = [
  {
    name: "web",
    bridge: "nsl-web",
    subnet: "198.51.100.0/25",
    subnetIPv6: "2001:db8:1::/64",
    masquerade: true,
    internal: false,
    icc: true,
  },
  {
    name: "iso",
    bridge: "nsl-iso",
    subnet: "198.51.100.128/25",
    masquerade: true,
    internal: true,
    icc: false,
  },
];
