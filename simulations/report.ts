// The report of a study: report.md with the SVG plots as image links, report.html self-contained with
// the same plots inline, and a paragraph under each plot that reads it. Built from rows alone.
import { renderSvg } from './plot.ts';
import type { Scenario, ScenarioConfig } from './scenario.ts';
import type { Presentation, Row } from './types.ts';

/** One scenario's part of a report. */
export interface ReportSection {
  scenario: Pick<Scenario, 'name' | 'number' | 'title' | 'question' | 'columns'>;
  config: ScenarioConfig;
  rows: Row[];
  presentation: Presentation;
}

/** The study as a whole. */
export interface StudyInfo {
  seed: number;
  quick: boolean;
}

/** The files of a report, ready to be written: names are relative to the output directory. */
export interface BuiltReport {
  markdown: string;
  html: string;
  svgs: Array<{ file: string; svg: string }>;
}

/** File name of a plot's SVG. */
export function svgFileName(scenarioName: string, plotId: string): string {
  return `${scenarioName}-${plotId}.svg`;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function anchor(section: ReportSection): string {
  return `s${section.scenario.number}-${section.scenario.name}`;
}

const CSS = `body{font-family:Helvetica,Arial,sans-serif;max-width:900px;margin:2em auto;padding:0 1em;color:#222;line-height:1.5}
h1{border-bottom:2px solid #ddd;padding-bottom:.3em}h2{margin-top:2.2em;border-bottom:1px solid #eee;padding-bottom:.2em}
figure{margin:1.2em 0}figure svg{max-width:100%;height:auto}p.question{color:#555;font-style:italic}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left}
code,pre{background:#f6f8fa;border-radius:3px}pre{padding:.6em;overflow-x:auto;font-size:.85em}nav li{margin:.1em 0}`;

/** Build report.md, report.html and every SVG of a study. Pure: the same sections give the same bytes. */
export async function buildReport(info: StudyInfo, sections: readonly ReportSection[]): Promise<BuiltReport> {
  const ordered = [...sections].sort((a, b) => a.scenario.number - b.scenario.number);
  const svgs: BuiltReport['svgs'] = [];
  const intro = `Seed ${info.seed}, ${info.quick ? 'quick (small) version of each study' : 'full study'}. Every point is in the CSV named under its section; \`config.json\` holds the exact configuration. \`edgesplit report DIR\` rebuilds this report from those files alone.`;
  const md: string[] = ['# edgesplit simulation report', '', intro, ''];
  const html: string[] = [`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>edgesplit simulation report</title><style>${CSS}</style></head><body>`,
    '<h1>edgesplit simulation report</h1>', `<p>${escapeHtml(intro).replace(/`([^`]+)`/g, '<code>$1</code>')}</p>`, '<nav><ol>'];
  for (const s of ordered) {
    md.push(`${s.scenario.number}. [${s.scenario.title}](#${anchor(s)})`);
    html.push(`<li value="${s.scenario.number}"><a href="#${anchor(s)}">${escapeHtml(s.scenario.title)}</a></li>`);
  }
  md.push('');
  html.push('</ol></nav>');
  for (const s of ordered) {
    const { scenario, presentation } = s;
    md.push(`<a id="${anchor(s)}"></a>`, `## ${scenario.number}. ${scenario.title}`, '', `_${scenario.question}_`, '');
    html.push(`<h2 id="${anchor(s)}">${scenario.number}. ${escapeHtml(scenario.title)}</h2>`, `<p class="question">${escapeHtml(scenario.question)}</p>`);
    for (const fig of presentation.figures) {
      const file = svgFileName(scenario.name, fig.plot.id);
      const svg = await renderSvg(fig.plot);
      svgs.push({ file, svg });
      md.push(`![${fig.plot.title}](${file})`, '', fig.paragraph, '');
      html.push(`<figure>${svg}</figure>`, `<p>${escapeHtml(fig.paragraph)}</p>`);
    }
    if (presentation.summary) {
      md.push(presentation.summary, '');
      html.push(`<p><strong>${escapeHtml(presentation.summary)}</strong></p>`);
    }
    const csv = `${scenario.name}.csv`;
    md.push(`Data: [${csv}](${csv}), ${s.rows.length} points; columns:`, '');
    md.push('| column | meaning |', '|---|---|', ...scenario.columns.map((c) => `| \`${c.name}\` | ${c.description} |`), '');
    md.push(`Configuration (\`config.json\`, key \`${scenario.name}\`): \`${JSON.stringify(s.config)}\``, '');
    html.push(`<details><summary>Data: ${escapeHtml(csv)}, ${s.rows.length} points, and configuration</summary><table><tr><th>column</th><th>meaning</th></tr>`,
      ...scenario.columns.map((c) => `<tr><td><code>${escapeHtml(c.name)}</code></td><td>${escapeHtml(c.description)}</td></tr>`),
      `</table><pre>${escapeHtml(JSON.stringify(s.config, null, 2))}</pre></details>`);
  }
  html.push('</body></html>');
  return { markdown: md.join('\n'), html: html.join('\n') + '\n', svgs };
}
