"""The report's inline style sheet and its one script, shared by every HTML artefact.

Inline (no font, no file, no CDN) so a report opens offline years later and prints to
PDF: ``@media print`` opens every collapsed step log and starts each drill on a new page.
The script only opens the ``<details>`` before printing; without it the report still reads.
"""

CSS = """
:root{--pass:#1e8449;--fail:#c0392b;--notrun:#b9770e;--ink:#1f2933;--muted:#616e7c;
--line:#d9dee3;--soft:#f5f7fa;--warn:#b9770e}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--soft);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1140px;margin:0 auto;padding:20px}
header.top,section{background:#fff;border:1px solid var(--line);border-radius:8px;
padding:16px 20px;margin:0 0 16px}
h1{font-size:22px;margin:0 0 6px}
h2{font-size:18px;margin:0 0 10px}
h3{font-size:14px;margin:18px 0 6px;text-transform:uppercase;letter-spacing:.04em;
color:var(--muted)}
a{color:#1f5fa8}
.badge{display:inline-block;padding:2px 8px;border-radius:4px;color:#fff;font-weight:700;
font-size:12px;letter-spacing:.03em;vertical-align:middle;white-space:nowrap}
.v-PASS{background:var(--pass)}.v-FAIL{background:var(--fail)}.v-NOT-RUN{background:var(--notrun)}
.banner{display:flex;align-items:center;gap:14px;flex-wrap:wrap}
.banner .badge{font-size:20px;padding:6px 14px}
.counts{font-size:15px;margin:4px 0 10px}
.counts b{font-size:17px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:8px 0 0}
dl.meta dt{color:var(--muted)}
dl.meta dd{margin:0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;margin:4px 0}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
td a{overflow-wrap:anywhere}
th{font-size:12px;color:var(--muted);font-weight:600;background:var(--soft)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.codes code{display:inline-block;margin:0 4px 2px 0}
td.spark{width:150px}td.spark svg{width:140px}
td.spark .spark-max{display:none}
code,pre{font:12px/1.4 ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:var(--soft);border:1px solid var(--line);
border-radius:4px;padding:6px 8px;margin:4px 0;max-height:360px;overflow:auto}
.muted{color:var(--muted)}
.sev-warn{color:var(--warn)}.sev-fail{color:var(--fail)}
.finding code{font-weight:700}
.expected{font-weight:600;color:var(--pass)}.expected-missed{font-weight:600;color:var(--fail)}
td .expected,td .expected-missed{display:block;font-size:12px;margin-top:3px}
ul.findings{margin:4px 0;padding-left:20px}
.notice{border-left:4px solid var(--notrun);background:#fdf6e9;padding:8px 12px;margin:8px 0}
.notice.fail{border-color:var(--fail);background:#fbeeee}
.notice.ok{border-color:var(--pass);background:#eef8f1}
.st{display:inline-flex;align-items:center;gap:4px;white-space:nowrap;font-weight:600}
.st svg{width:14px;height:14px;flex:none}
.st-yes{color:var(--pass)}.st-no{color:var(--fail)}.st-partial{color:var(--warn)}
.st-todo,.st-na{color:var(--muted)}
ul.check{list-style:none;padding:0;margin:4px 0}
ul.check li{padding:3px 0;display:grid;grid-template-columns:110px 1fr;gap:8px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:4px 24px}
details.step{border:1px solid var(--line);border-radius:4px;margin:4px 0;background:#fff}
details.step>summary{cursor:pointer;padding:5px 8px;display:flex;gap:8px;align-items:baseline;
flex-wrap:wrap}
details.step[open]>summary{border-bottom:1px solid var(--line);background:var(--soft)}
details.step .body{padding:6px 10px}
.phase{display:inline-block;min-width:78px;font-size:11px;font-weight:700;color:#fff;
border-radius:3px;padding:1px 6px;text-align:center}
.outcome-failed,.outcome-timeout,.outcome-running{color:var(--fail);font-weight:700}
.cmd{border-top:1px dashed var(--line);padding-top:4px;margin-top:6px}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px;color:var(--muted);margin:4px 0}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;
vertical-align:-1px}
svg.chart{display:block;height:auto;margin:4px 0}
.trend{display:flex;gap:16px;align-items:center;flex-wrap:wrap}
nav.toc{font-size:13px;margin:0 0 12px}
nav.toc a{margin-right:12px}
.drill{border-left:6px solid var(--line)}
.drill-v-PASS{border-left-color:var(--pass)}.drill-v-FAIL{border-left-color:var(--fail)}
.drill-v-NOT-RUN{border-left-color:var(--notrun)}
.projection{border:1px dashed var(--muted);border-radius:6px;padding:8px 12px}
footer{color:var(--muted);font-size:12px;padding:0 4px 30px}
@page{size:A4;margin:12mm}
@media print{
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 body{background:#fff;font-size:11px}
 main{max-width:none;padding:0}
 header.top,section{border:none;border-radius:0;padding:0;margin:0 0 14px}
 section.drill{break-before:page;padding-left:10px}
 nav.toc{display:none}
 details.step>summary{list-style:none}
 details.step>summary::-webkit-details-marker{display:none}
 pre{max-height:none;overflow:visible;font-size:8px;line-height:1.25;padding:1px 4px;margin:1px 0;
 border:none}
 .cmd{margin-top:2px;padding-top:2px}
 details.step{margin:2px 0}
 details.step .body{padding:2px 6px}
 tr,svg.chart,.notice,.cmd{break-inside:avoid}
 a{color:inherit;text-decoration:none}
}
"""

# Opens every step log for printing (and closes them again afterwards).
SCRIPT = """
(function(){var opened=[];
window.addEventListener('beforeprint',function(){
document.querySelectorAll('details:not([open])').forEach(function(d){d.open=true;opened.push(d);});});
window.addEventListener('afterprint',function(){opened.forEach(function(d){d.open=false;});opened=[];});
})();
"""
