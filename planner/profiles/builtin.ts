// The built-in profiles, written in the same JSON form users write (quantities with units), so
// they pass through the same validation. Every number is an estimate with its source below;
// `edgesplit profile` measures the real latencies on the real machine.
//
// How the device numbers are derived (docs/planner.md, "Profiles", has the same with links):
// - cyclesPerFlop = 1 / (cores * peak fp32 FLOP per cycle per core * efficiency). Peak per core:
//   Cortex-A57 and A72 execute one 128-bit NEON FMA per cycle (two 64-bit pipes): 8 FLOP/cycle,
//   measured 15.9 GFLOPS single-thread on a 2.0 GHz A72 by vfpbench (wlog.flatlib.jp, 2015).
//   Cortex-A76 and A78 have two 128-bit FMA pipes (Arm's core announcements): 16 FLOP/cycle.
//   Efficiency 0.25 is assumed for ONNX Runtime's fp32 kernels on whole models (convolutions,
//   depthwise layers and memory-bound operators mixed), not measured.
// - kappa is the whole CPU's effective switched capacitance: with all cores running, dynamic
//   power is kappa * f^3, so kappa = (full-load power - idle power) / f_max^3. Raspberry Pi 4 B:
//   2.7 W idle and 6.4 W under `stress --cpu 4` at 1.5 GHz (RasPi.TV measurements, 2019), so
//   3.7 W / (1.5 GHz)^3 = 1.1e-27. The other boards scale the per-core power by process node and
//   are rougher still. NOTE: MODEL.md's "kappa around 1e-28" is a per-core figure; here cycles
//   count for the whole CPU, so kappa is about one core's figure times the number of cores.
// - Frequencies: the vendors' specifications; the Raspberry Pi cpufreq driver offers 100 MHz
//   steps between the firmware's minimum and maximum (600 MHz-1.5 GHz on a Pi 4, 1.5-2.4 GHz on
//   a Pi 5). Jetson boards offer many steps; none are listed, so any frequency in range is used.

/** Device profiles by name, in the JSON profile format. */
export const BUILTIN_DEVICES: Readonly<Record<string, unknown>> = Object.freeze({
  rpi4: {
    kind: 'device', name: 'rpi4',
    description: 'Raspberry Pi 4 Model B, 4 GB: Broadcom BCM2711, 4 x Cortex-A72 at 1.5 GHz, CPU only',
    freqMin: '600 MHz', freqMax: '1.5 GHz',
    freqSteps: ['600 MHz', '700 MHz', '800 MHz', '900 MHz', '1 GHz', '1.1 GHz', '1.2 GHz', '1.3 GHz', '1.4 GHz', '1.5 GHz'],
    kappa: 1.1e-27, cyclesPerFlop: 0.125, memory: '4 GiB',
    sources: [
      'Raspberry Pi 4 Model B product brief: BCM2711, quad-core Cortex-A72 (ARM v8) 64-bit SoC @ 1.5 GHz, 1/2/4/8 GB LPDDR4',
      'cyclesPerFlop 0.125 = 1 / (4 cores x 8 FLOP/cycle x 0.25 efficiency): about 12 GFLOP/s at 1.5 GHz (estimate)',
      'kappa 1.1e-27 = (6.4 W under stress --cpu 4 - 2.7 W idle) / (1.5 GHz)^3, RasPi.TV Pi 4 B power measurements (estimate)',
    ],
  },
  rpi5: {
    kind: 'device', name: 'rpi5',
    description: 'Raspberry Pi 5, 8 GB: Broadcom BCM2712, 4 x Cortex-A76 at 2.4 GHz, CPU only',
    freqMin: '1.5 GHz', freqMax: '2.4 GHz',
    freqSteps: ['1.5 GHz', '1.6 GHz', '1.7 GHz', '1.8 GHz', '1.9 GHz', '2 GHz', '2.1 GHz', '2.2 GHz', '2.3 GHz', '2.4 GHz'],
    kappa: 3.3e-28, cyclesPerFlop: 0.0625, memory: '8 GiB',
    sources: [
      'Raspberry Pi 5 product brief: BCM2712, quad-core Arm Cortex-A76 @ 2.4 GHz, 2/4/8/16 GB LPDDR4X',
      'cyclesPerFlop 0.0625 = 1 / (4 cores x 16 FLOP/cycle x 0.25 efficiency): about 38 GFLOP/s at 2.4 GHz (estimate)',
      'kappa 3.3e-28 from about 4.5 W of CPU power above idle at 2.4 GHz (estimate, not measured here)',
    ],
  },
  'jetson-nano': {
    kind: 'device', name: 'jetson-nano',
    description: 'NVIDIA Jetson Nano 4 GB: 4 x Cortex-A57 at 1.43 GHz, CPU only (the GPU is not used)',
    freqMin: '102 MHz', freqMax: '1.43 GHz',
    kappa: 1.1e-27, cyclesPerFlop: 0.125, memory: '4 GiB',
    sources: [
      'NVIDIA Jetson Nano module data sheet: quad-core Arm Cortex-A57 MPCore at 1.43 GHz, 4 GB 64-bit LPDDR4 shared with the GPU',
      'cyclesPerFlop 0.125 = 1 / (4 cores x 8 FLOP/cycle x 0.25 efficiency): about 11 GFLOP/s at 1.43 GHz (estimate)',
      'kappa 1.1e-27 from about 3.2 W of CPU power at 1.43 GHz in the 10 W (MAXN) mode (estimate, not measured here)',
    ],
  },
  'jetson-orin-nano': {
    kind: 'device', name: 'jetson-orin-nano',
    description: 'NVIDIA Jetson Orin Nano 8 GB: 6 x Cortex-A78AE at 1.5 GHz, CPU only (the GPU is not used)',
    freqMin: '115.2 MHz', freqMax: '1.5 GHz',
    kappa: 8.9e-28, cyclesPerFlop: 0.0417, memory: '8 GiB',
    sources: [
      'NVIDIA Jetson Orin Nano series data sheet: 6-core Arm Cortex-A78AE v8.2 64-bit CPU, up to 1.5 GHz, 8 GB 128-bit LPDDR5',
      'cyclesPerFlop 0.0417 = 1 / (6 cores x 16 FLOP/cycle x 0.25 efficiency): about 36 GFLOP/s at 1.5 GHz (estimate)',
      'kappa 8.9e-28 from about 3 W of CPU power at 1.5 GHz in the 15 W mode (estimate, not measured here)',
    ],
  },
});

/** Channel (uplink) profiles by name. Noise density: -174 dBm/Hz thermal plus the receiver's noise figure. */
export const BUILTIN_CHANNELS: Readonly<Record<string, unknown>> = Object.freeze({
  wifi: {
    kind: 'channel', name: 'wifi',
    description: 'Wi-Fi uplink, one 20 MHz channel, indoors through a wall',
    bandwidth: '20 MHz', noiseDensity: '-164 dBm/Hz', pathLoss: '-90 dB', fading: 'rayleigh', powerMax: '20 dBm', roundTrip: '2 ms',
    sources: [
      'IEEE 802.11 20 MHz channel; 20 dBm (100 mW) is the EIRP limit at 2.4 GHz in Europe (ETSI EN 300 328)',
      'noise density -174 dBm/Hz thermal + 10 dB noise figure; path loss -90 dB for about 10-20 m indoors with walls (estimate)',
    ],
  },
  lte: {
    kind: 'channel', name: 'lte',
    description: 'LTE uplink, 10 MHz carrier, mid-cell',
    bandwidth: '10 MHz', noiseDensity: '-169 dBm/Hz', pathLoss: '-110 dB', fading: 'rayleigh', powerMax: '23 dBm', roundTrip: '30 ms',
    sources: [
      '3GPP TS 36.101: UE power class 3, 23 dBm maximum output power; 10 MHz channel bandwidth',
      'noise density -174 dBm/Hz thermal + 5 dB base-station noise figure; path loss -110 dB mid-cell; 30 ms user-plane round trip (estimates)',
    ],
  },
  '5g': {
    kind: 'channel', name: '5g',
    description: '5G NR FR1 uplink, 100 MHz carrier (e.g. band n78), mid-cell',
    bandwidth: '100 MHz', noiseDensity: '-169 dBm/Hz', pathLoss: '-110 dB', fading: 'rayleigh', powerMax: '23 dBm', roundTrip: '10 ms',
    sources: [
      '3GPP TS 38.101-1: UE power class 3, 23 dBm; FR1 channel bandwidths up to 100 MHz',
      'noise density -174 dBm/Hz thermal + 5 dB noise figure; path loss -110 dB mid-cell; 10 ms round trip (estimates)',
    ],
  },
});

/** Server profiles by name. */
export const BUILTIN_SERVERS: Readonly<Record<string, unknown>> = Object.freeze({
  desktop: {
    kind: 'server', name: 'desktop',
    description: 'a desktop x86-64 server, 8 cores with AVX2 FMA at about 3.5 GHz, CPU inference',
    flopsPerS: 2.2e11, overhead: '1 ms',
    sources: [
      'peak fp32 = 8 cores x 32 FLOP/cycle (two 256-bit FMA units) x 3.5 GHz = 896 GFLOP/s; 0.25 efficiency assumed: 2.2e11 FLOP/s (estimate)',
      'overhead 1 ms for decoding the request, session dispatch and encoding the result (estimate)',
    ],
  },
});
