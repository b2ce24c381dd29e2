// The registry of simulation scenarios, in the order of the report: name -> title, question, knobs,
// simulate (rows) and present (plots and paragraphs).
import type { Scenario, ScenarioConfig } from '../scenario.ts';
import { accuracyScenario } from './accuracy.ts';
import { energyBudgetScenario, latencyBudgetScenario } from './budgets.ts';
import { splitPointScenario } from './split-point.ts';
import { channelScenario } from './channel.ts';
import { theoryScenario } from './theory.ts';
import { multiDeviceScenario } from './multi-device.ts';
import { predictedScenario } from './predicted.ts';

/**
 * Every scenario, in report order. NOTE: each scenario is typed with its own knobs; the registry holds
 * them as scenarios of any knobs, which is sound because `resolveStudy` only ever hands a scenario a
 * configuration merged onto (and type-checked against) its own defaults.
 */
export const SCENARIOS: readonly Scenario[] = Object.freeze([
  latencyBudgetScenario,
  energyBudgetScenario,
  splitPointScenario,
  channelScenario,
  theoryScenario,
  accuracyScenario,
  multiDeviceScenario,
  predictedScenario,
] as unknown as Scenario<ScenarioConfig>[]);
