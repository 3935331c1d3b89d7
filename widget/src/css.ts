// The widget's styles, scoped by its shadow root.  The host element resets every property
// with !important: in a shadow tree an !important :host rule beats the page's !important
// rules, so a hostile `* { display: none !important }` cannot hide or restyle it, and
// inherited properties (font-size: 0, visibility: hidden, direction ...) stop at the host.
// Layout uses logical properties (inline-start/end) so dir="rtl" mirrors everything.

export const CSS = `
:host{all:initial!important;display:block!important;position:static!important;visibility:visible!important;opacity:1!important;transform:none!important;filter:none!important;contain:none!important;direction:ltr!important;pointer-events:auto!important}
*,*::before,*::after{box-sizing:border-box}
[hidden]{display:none!important}
.root{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans Arabic",Tahoma,Arial,sans-serif;color:#1b1f24;text-align:start;-webkit-text-size-adjust:100%;letter-spacing:normal;word-spacing:normal;text-transform:none}
button,input,select,textarea{font:inherit;color:inherit;letter-spacing:inherit;margin:0}
button{cursor:pointer}
:focus-visible{outline:3px solid #0a4fd6;outline-offset:2px}
.sr{position:absolute!important;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
.launcher{position:fixed;inset-block-end:20px;inset-inline-end:20px;z-index:2147483000;width:60px;height:60px;border-radius:50%;border:0;background:var(--accent);color:var(--on-accent);display:flex;align-items:center;justify-content:center;box-shadow:0 6px 20px rgba(0,0,0,.28);transition:transform .15s}
.launcher:hover{transform:scale(1.06)}
.launcher:focus-visible{outline:3px solid #1b1f24;outline-offset:3px;box-shadow:0 0 0 3px #fff}
.launcher svg{width:28px;height:28px}
.badge{position:absolute;inset-block-start:-4px;inset-inline-end:-4px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;background:#c5221f;color:#fff;font-size:12px;font-weight:700;line-height:22px;text-align:center;border:2px solid #fff}
.left .launcher,.left .panel{inset-inline-end:auto;inset-inline-start:20px}
.panel{position:fixed;inset-block-end:92px;inset-inline-end:20px;z-index:2147483001;width:376px;height:min(620px,calc(100vh - 112px));max-height:calc(100vh - 112px);background:#fff;border-radius:16px;box-shadow:0 16px 48px rgba(0,0,0,.28);display:flex;flex-direction:column;overflow:hidden}
.head{background:var(--accent);color:var(--on-accent);padding:12px 10px 12px 16px;padding-inline:16px 8px;display:flex;align-items:center;gap:4px;flex:none}
.head-text{flex:1;min-width:0}
.head-title{font-size:16px;font-weight:700;margin:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.head-sub{font-size:13px;margin:0;opacity:.95;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.ibtn{width:38px;height:38px;border:0;border-radius:10px;background:transparent;color:inherit;display:inline-flex;align-items:center;justify-content:center;flex:none}
.ibtn:hover{background:rgba(127,127,127,.25)}
.head .ibtn:focus-visible{outline:3px solid currentColor;outline-offset:-3px}
.banner{background:#fff4ce;color:#3d2e00;padding:6px 16px;font-size:13px;flex:none}
.notices{flex:none;max-height:40%;overflow:auto;display:flex;flex-direction:column}
.notice{background:#ffebe9;color:#5c0b0b;border-bottom:1px solid #ffc1ba;padding:8px 16px;font-size:13.5px;display:flex;flex-direction:column;gap:6px;align-items:flex-start}
.notice p{margin:0}
.notice-form{display:flex;flex-wrap:wrap;gap:6px;align-items:center}
.notice-form input{flex:1 1 140px;min-width:0;padding:6px 8px;border:1px solid #6e7781;border-radius:8px;font:inherit}
.notice-form .btn{padding:6px 12px}
[data-lc=transcript]{margin:8px 0}
[data-lc=transcript] label{flex:1 0 100%;font-weight:600;font-size:13px}
[data-lc=transcript] .err{flex:1 0 100%}
.linkbtn{background:none;border:0;padding:0;font:inherit;color:#0a3069;text-decoration:underline;cursor:pointer}
.confirm{display:flex;align-items:center;gap:8px;flex-wrap:wrap;padding:10px 16px;background:#fdecea;color:#5c0f0a;flex:none}
.confirm span{flex:1}
.body{flex:1;min-height:0;overflow-y:auto;padding:14px;background:#f6f8fa;display:flex;flex-direction:column;gap:10px;overscroll-behavior:contain}
.card{background:#fff;border:1px solid #d0d7de;border-radius:12px;padding:14px;display:flex;flex-direction:column;gap:10px}
.card h2{font-size:16px;margin:0}
.card p{margin:0}
.field{display:flex;flex-direction:column;gap:4px}
.field label,.legend{font-weight:600;font-size:13px}
.opt{font-weight:400;color:#57606a}
.field input,.field select,.field textarea{width:100%;padding:9px 11px;border:1px solid #6e7781;border-radius:8px;background:#fff;color:#1b1f24}
.field textarea{resize:vertical;min-height:72px}
[aria-invalid="true"]{border-color:#c5221f!important;box-shadow:0 0 0 1px #c5221f}
.err{color:#b3261e;font-size:13px;margin:0}
.btn{border:0;border-radius:10px;padding:10px 16px;font-weight:600;background:var(--accent);color:var(--on-accent)}
.btn2{border:1px solid #6e7781;border-radius:10px;padding:9px 14px;font-weight:600;background:#fff;color:#1b1f24}
.btn:disabled{opacity:.6;cursor:default}
.msgs{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:8px}
.msg{max-width:82%;align-self:flex-start;display:flex;flex-direction:column;align-items:flex-start}
.msg.me{align-self:flex-end;align-items:flex-end}
.who{font-size:12px;color:#57606a;margin:0 4px 2px}
.bubble{padding:8px 12px;border-radius:16px;border-end-start-radius:4px;background:#fff;border:1px solid #d0d7de;white-space:pre-wrap;overflow-wrap:anywhere;max-width:100%}
.me .bubble{background:var(--accent);color:var(--on-accent);border-color:transparent;border-end-start-radius:16px;border-end-end-radius:4px}
.bubble a{color:inherit;text-decoration:underline}
.meta{font-size:12px;color:#57606a;margin:2px 4px 0;display:flex;gap:6px;align-items:center}
.failed .meta{color:#b3261e}
.retry{border:0;background:none;padding:0;color:#0a4fd6;text-decoration:underline;font-size:12px;font-weight:600}
.system{align-self:center;text-align:center;font-size:13px;color:#57606a;max-width:90%}
.queue{align-self:stretch;text-align:center;background:#fff;border:1px dashed #8c959f;border-radius:12px;padding:10px;font-size:13.5px}
.queue strong{display:block;font-size:15px}
.typing{min-height:20px;padding:0 16px;font-size:13px;color:#57606a;background:#f6f8fa;flex:none}
.composer{display:flex;gap:8px;align-items:flex-end;padding:10px;border-top:1px solid #d0d7de;background:#fff;flex:none}
.composer textarea{flex:1;resize:none;min-height:42px;max-height:120px;padding:10px 12px;border:1px solid #6e7781;border-radius:12px;background:#fff;color:#1b1f24;line-height:1.4}
.sendb{width:44px;height:42px;border:0;border-radius:12px;background:var(--accent);color:var(--on-accent);display:flex;align-items:center;justify-content:center;flex:none}
[dir=rtl] .sendb svg{transform:scaleX(-1)}
.attachb{width:36px;height:42px;border:0;border-radius:12px;background:transparent;color:#57606a;display:flex;align-items:center;justify-content:center;flex:none;cursor:pointer}
.attachb:hover{color:#1b1f24;background:#f6f8fa}
.bubble .file{display:inline-flex;align-items:center;gap:6px;color:inherit;text-decoration:underline;word-break:break-all}
.bubble .preview{display:block;max-width:220px;max-height:220px;border-radius:8px;margin-bottom:4px;background:#f6f8fa}
.stars{display:flex;gap:4px;border:0;margin:0;padding:0}
.stars label{cursor:pointer;font-size:30px;line-height:1;color:#8c959f;padding:2px}
.stars label.on{color:#b35900}
.stars input{position:absolute;opacity:0;width:1px;height:1px}
.stars input:focus-visible+label{outline:3px solid #0a4fd6;outline-offset:1px;border-radius:6px}
.nps{border:0;margin:0;padding:0}
.nps .scale{display:flex;flex-wrap:wrap;gap:3px;margin-top:4px}
.nps label{cursor:pointer;min-width:24px;padding:4px 0;text-align:center;border:1px solid #8c959f;border-radius:4px;font-size:13px}
.nps label.on{background:#1f2328;color:#fff;border-color:#1f2328}
.nps input{position:absolute;opacity:0;width:1px;height:1px}
.nps input:focus-visible+label{outline:3px solid #0a4fd6;outline-offset:1px}
.nps .ends{display:flex;justify-content:space-between;font-size:12px;color:#57606a;margin-top:2px}
.row{display:flex;gap:8px;flex-wrap:wrap}
.invite{position:fixed;inset-block-end:92px;inset-inline-end:20px;z-index:2147483001;width:300px;max-width:calc(100vw - 40px);box-shadow:0 6px 20px rgba(0,0,0,.28);overflow-wrap:anywhere}
.left .invite{inset-inline-end:auto;inset-inline-start:20px}
@media (max-width:480px){
.panel{inset:0;width:100%;height:100%;max-height:none;border-radius:0}
.open .launcher{display:none}
}
`;
