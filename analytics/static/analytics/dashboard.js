/* Staff dashboard (/dashboard/): draws the /api/analytics/ figures with Chart.js.
 *
 * The page's session gets short-lived bearer tokens from config.tokenUrl (see analytics/dashboard.py).
 * Every panel loads on its own: an API error shows in that panel (never as an uncaught error), and the
 * other panels still draw. <body data-state> is "loading" while requests run and "ready" after each
 * round; <body data-loads> counts the rounds (the browser test waits on both).
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  const ROLES = ["patient", "doctor", "admin", "superadmin"];
  const ROLE_LABELS = { patient: "Patients", doctor: "Doctors", admin: "Admins", superadmin: "Super admins" };
  const ROLE_COLOURS = { patient: "#2563eb", doctor: "#059669", admin: "#d97706", superadmin: "#7c3aed" };
  const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  const GRANULARITIES = ["day", "week", "month"];
  const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.animation = false; // figures, not a show: and screenshots never catch a half-drawn chart

  // --- API ------------------------------------------------------------------------------------

  /** An answer the page can explain: an error envelope, an unexpected status, or no answer at all. */
  class ApiError extends Error {
    constructor(message, { code = null, status = null, details = null } = {}) {
      super(message);
      this.name = "ApiError";
      this.code = code;
      this.status = status;
      this.details = details;
    }
  }

  async function request(url, options) {
    try {
      return await fetch(url, options);
    } catch (error) {
      throw new ApiError("Could not reach the server. Check the connection and apply again.");
    }
  }

  /** The envelope's data, or an ApiError with its message, code and details. */
  async function readEnvelope(response) {
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    if (response.ok && body && body.success === true) {
      return body.data;
    }
    const error = (body && body.error) || {};
    const message = error.message || `The server answered ${response.status} ${response.statusText}`.trim();
    throw new ApiError(message, { code: error.code || null, status: response.status, details: error.details });
  }

  let token = null;
  let tokenRenewAt = 0;
  let tokenRequest = null;

  async function fetchToken() {
    const response = await request(config.tokenUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": config.csrfToken, Accept: "application/json" },
    });
    const data = await readEnvelope(response);
    token = data.access;
    // Renew a little before it runs out; expires_in is a duration, so clock skew does not matter.
    tokenRenewAt = Date.now() + Math.max(data.expires_in - 30, 1) * 1000;
    return token;
  }

  /** The current token, or a new one; panels loading together share one token request. */
  function accessToken(renew) {
    if (!renew && token && Date.now() < tokenRenewAt) {
      return Promise.resolve(token);
    }
    if (!tokenRequest) {
      tokenRequest = fetchToken().finally(() => {
        tokenRequest = null;
      });
    }
    return tokenRequest;
  }

  async function api(path, params) {
    const url = new URL(config.apiBase + path, window.location.origin);
    for (const [name, value] of Object.entries(params || {})) {
      url.searchParams.set(name, value);
    }
    const send = async (renew) =>
      request(url, { headers: { Authorization: `Bearer ${await accessToken(renew)}`, Accept: "application/json" } });
    let response = await send(false);
    if (response.status === 401) {
      response = await send(true); // the token ran out (a laptop asleep): once more with a fresh one
    }
    return readEnvelope(response);
  }

  // --- Panels ---------------------------------------------------------------------------------

  function describe(error) {
    let text = error.message;
    const details = error.details;
    if (details && typeof details === "object" && !Array.isArray(details)) {
      const parts = Object.entries(details)
        .filter(([, value]) => Array.isArray(value) || typeof value === "string")
        .map(([field, value]) => `${field}: ${[].concat(value).join(" ")}`);
      if (parts.length) {
        text += ` (${parts.join("; ")})`;
      }
    }
    return error.code ? `${text} [${error.code}]` : text;
  }

  function panelElement(kind, panel) {
    return document.querySelector(`[data-${kind}-for="${panel}"]`);
  }

  function setStatus(panel, text) {
    const element = panelElement("status", panel);
    element.textContent = text || "";
    element.hidden = !text;
  }

  function setError(panel, error) {
    const element = panelElement("error", panel);
    element.textContent = error ? describe(error) : "";
    element.hidden = !error;
    document.getElementById(panel).classList.toggle("has-error", Boolean(error));
  }

  const newestRun = {};

  /** Fetch one panel's figures and draw them (draw returns the panel's status line), unless a newer
   * run of the panel started meanwhile (Apply clicked twice). Errors end up in the panel; programming
   * errors also reach the console. */
  async function runPanel(panel, fetchData, draw) {
    const run = (newestRun[panel] = (newestRun[panel] || 0) + 1);
    setError(panel, null);
    setStatus(panel, "Loading…");
    try {
      const data = await fetchData();
      if (run === newestRun[panel]) {
        setStatus(panel, draw(data));
      }
    } catch (error) {
      if (run !== newestRun[panel]) {
        return;
      }
      setStatus(panel, "");
      setError(panel, error instanceof ApiError ? error : new ApiError(`The page failed to draw this panel: ${error}`));
      if (!(error instanceof ApiError)) {
        console.error(error);
      }
    }
  }

  function upsertChart(canvasId, type, labels, datasets, options) {
    const canvas = document.getElementById(canvasId);
    const chart = Chart.getChart(canvas);
    if (chart) {
      chart.data.labels = labels;
      chart.data.datasets = datasets;
      chart.options = options;
      chart.update();
      return chart;
    }
    return new Chart(canvas, { type, data: { labels, datasets }, options });
  }

  function baseOptions(extra) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom" } },
      ...extra,
    };
  }

  // --- Money ------------------------------------------------------------------------------------

  function minorDigits(currency) {
    try {
      return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
    } catch (error) {
      return 2; // not an ISO 4217 code the browser knows
    }
  }

  /** Minor units to major (15000 INR -> 150), by the currency's own number of decimals. */
  function toMajor(minor, currency) {
    return minor / 10 ** minorDigits(currency);
  }

  function formatMoney(minor, currency, notation) {
    const major = toMajor(minor, currency);
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency, notation }).format(major);
    } catch (error) {
      return `${major.toFixed(2)} ${currency}`;
    }
  }

  function formatCount(value) {
    return new Intl.NumberFormat().format(value);
  }

  // --- Overview cards -----------------------------------------------------------------------------

  function sum(values) {
    return values.reduce((total, value) => total + (Number(value) || 0), 0);
  }

  function breakdown(counts) {
    return Object.entries(counts || {})
      .filter(([, count]) => count)
      .map(([key, count]) => `${formatCount(count)} ${key.replace(/_/g, " ")}`)
      .join(" · ");
  }

  function moneyLines(rows) {
    if (!rows || !rows.length) {
      return { value: "—", note: "no payments" };
    }
    return {
      value: rows.map((row) => formatMoney(row.net, row.currency)).join(" / "),
      note: rows
        .map((row) => `${row.currency}: gross ${formatMoney(row.gross, row.currency)}, refunds ${formatMoney(row.refunds, row.currency)}`)
        .join("; "),
    };
  }

  function card(key, label, value, note, raw) {
    const wrapper = document.createElement("div");
    wrapper.className = "card";
    wrapper.dataset.card = key;
    const term = document.createElement("dt");
    term.textContent = label;
    const detail = document.createElement("dd");
    detail.dataset.value = JSON.stringify(raw === undefined ? value : raw);
    detail.textContent = value;
    if (note) {
      const small = document.createElement("small");
      small.textContent = note;
      detail.append(small);
    }
    wrapper.append(term, detail);
    return wrapper;
  }

  function drawOverview(data) {
    const users = data.users_by_role || {};
    const revenueToday = moneyLines(data.revenue_today);
    const revenueMonth = moneyLines(data.revenue_month_to_date);
    const signups = data.new_signups_today || {};
    const today = data.consultations_today || {};
    const rating = data.average_rating;
    document.getElementById("cards").replaceChildren(
      card("patients", "Patients", formatCount(users.patient || 0), null, users.patient || 0),
      card("doctors", "Doctors", formatCount(users.doctor || 0), null, users.doctor || 0),
      card("staff", "Admins", formatCount((users.admin || 0) + (users.superadmin || 0)), breakdown({ admin: users.admin, superadmin: users.superadmin }), users),
      card("active_consultations", "Consultations now", formatCount(data.active_consultations || 0), null, data.active_consultations || 0),
      card("consultations_today", "Consultations today", formatCount(sum(Object.values(today))), breakdown(today), today),
      card("revenue_today", "Net revenue today", revenueToday.value, revenueToday.note, data.revenue_today || []),
      card("revenue_month_to_date", "Net revenue this month", revenueMonth.value, revenueMonth.note, data.revenue_month_to_date || []),
      card("new_signups_today", "Sign-ups today", formatCount(sum(Object.values(signups))), breakdown(signups), signups),
      card("pending_doctor_verifications", "Doctors to verify", formatCount(data.pending_doctor_verifications || 0), null, data.pending_doctor_verifications || 0),
      card("average_rating", "Average rating", rating === null || rating === undefined ? "—" : Number(rating).toFixed(2), null, rating ?? null),
    );
    if (data.time_zone) {
      document.getElementById("time-zone").textContent = data.time_zone;
    }
    return "";
  }

  // --- User growth ----------------------------------------------------------------------------------

  let growth = null;

  function drawGrowth() {
    const key = document.getElementById("growth-active").checked ? "active" : "signups";
    const series = growth.series || [];
    const datasets = ROLES.map((role) => ({
      label: ROLE_LABELS[role],
      data: series.map((row) => (row[key] || {})[role] || 0),
      borderColor: ROLE_COLOURS[role],
      backgroundColor: ROLE_COLOURS[role],
      tension: 0.2,
      pointRadius: 2,
    }));
    upsertChart("growth-chart", "line", series.map((row) => row.period), datasets,
      baseOptions({ scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }));
    return series.length ? "" : "No periods in this range.";
  }

  function setGrowth(data) {
    growth = data;
    return drawGrowth();
  }

  // --- Revenue ------------------------------------------------------------------------------------------

  let revenue = null;

  function drawRevenue() {
    const select = document.getElementById("revenue-currency");
    const currencies = (revenue.currencies || []).map((entry) => entry.currency);
    const chosen = currencies.includes(select.value) ? select.value : currencies[0];
    select.replaceChildren(...currencies.map((code) => new Option(code, code, false, code === chosen)));
    select.disabled = currencies.length < 2;
    const entry = (revenue.currencies || []).find((item) => item.currency === chosen);
    const totals = document.getElementById("revenue-totals");
    if (!entry) {
      upsertChart("revenue-chart", "bar", [], [], baseOptions({}));
      totals.textContent = "";
      return "No payments in this range.";
    }
    const series = entry.series || [];
    const bars = [
      ["gross", "Gross", "#2563eb"],
      ["refunds", "Refunds", "#dc2626"],
      ["net", "Net", "#059669"],
    ];
    // One currency per chart: amounts in different currencies are never added or stacked.
    const datasets = bars.map(([field, label, colour]) => ({
      label: `${label} (${chosen})`,
      data: series.map((row) => toMajor(row[field] || 0, chosen)),
      backgroundColor: colour,
    }));
    upsertChart("revenue-chart", "bar", series.map((row) => row.period), datasets, baseOptions({
      scales: {
        y: {
          beginAtZero: true,
          ticks: { callback: (value) => formatMoney(Math.round(value * 10 ** minorDigits(chosen)), chosen, "compact") },
        },
      },
      plugins: {
        legend: { position: "bottom" },
        tooltip: {
          callbacks: {
            label: (item) => `${item.dataset.label}: ${formatMoney(Math.round(item.parsed.y * 10 ** minorDigits(chosen)), chosen)}`,
          },
        },
      },
    }));
    const sums = entry.totals || {};
    totals.textContent = [
      `Gross ${formatMoney(sums.gross || 0, chosen)}`,
      `refunds ${formatMoney(sums.refunds || 0, chosen)}`,
      `net ${formatMoney(sums.net || 0, chosen)}`,
      `platform fee ${formatMoney(sums.platform_fee || 0, chosen)}`,
    ].join(" · ");
    return "";
  }

  function setRevenue(data) {
    revenue = data;
    return drawRevenue();
  }

  // --- Consultation heatmap ---------------------------------------------------------------------------

  function heatCell(tag, className, text, role) {
    const element = document.createElement(tag);
    element.className = className;
    element.textContent = text;
    element.setAttribute("role", role);
    return element;
  }

  function drawHeatmap(data) {
    const counts = new Map();
    let max = 0;
    for (const entry of data.heatmap || []) {
      counts.set(`${entry.weekday}:${entry.hour}`, entry.count);
      max = Math.max(max, entry.count);
    }
    const rows = [];
    const header = document.createElement("div");
    header.className = "hm-row";
    header.setAttribute("role", "row");
    header.append(heatCell("span", "hm-label", "", "columnheader"));
    for (let hour = 0; hour < 24; hour += 1) {
      header.append(heatCell("span", "hm-label", String(hour), "columnheader"));
    }
    rows.push(header);
    for (let weekday = 0; weekday < 7; weekday += 1) {
      const row = document.createElement("div");
      row.className = "hm-row";
      row.setAttribute("role", "row");
      row.append(heatCell("span", "hm-label", WEEKDAYS[weekday], "rowheader"));
      for (let hour = 0; hour < 24; hour += 1) {
        const count = counts.get(`${weekday}:${hour}`) || 0;
        const cell = heatCell("span", "hm-cell", count ? String(count) : "", "cell");
        cell.dataset.weekday = weekday;
        cell.dataset.hour = hour;
        cell.dataset.count = count;
        cell.title = `${WEEKDAYS[weekday]} ${hour}:00–${hour + 1}:00: ${count} consultation${count === 1 ? "" : "s"}`;
        if (count) {
          cell.style.backgroundColor = `rgba(37, 99, 235, ${(0.2 + (0.8 * count) / max).toFixed(3)})`;
        }
        row.append(cell);
      }
      rows.push(row);
    }
    document.getElementById("heatmap").replaceChildren(...rows);
  }

  function percent(value) {
    return `${(100 * (value || 0)).toFixed(1)}%`;
  }

  function drawConsultations(data) {
    drawHeatmap(data);
    const rates = data.rates || {};
    const minutes = (value) => (value === null || value === undefined ? "—" : `${Number(value).toFixed(1)} min`);
    document.getElementById("consultations-summary").textContent = [
      `${formatCount(data.total || 0)} consultations`,
      `completed ${percent(rates.completion)}`,
      `cancelled ${percent(rates.cancellation)}`,
      `no-show ${percent(rates.no_show)}`,
      `average length ${minutes(data.average_duration_minutes)}`,
      `average wait ${minutes(data.average_wait_minutes)}`,
    ].join(" · ");
    return data.total ? "" : "No consultations in this range.";
  }

  // --- Geography ---------------------------------------------------------------------------------------

  function geographyFetcher(range) {
    const level = document.getElementById("geography-level").value;
    return () => api("geography/", { ...range, level });
  }

  function drawGeography(data) {
    const rows = (data.rows || []).map((entry) => {
      const row = document.createElement("tr");
      for (const field of ["country", "state", "city"]) {
        const cell = row.insertCell();
        cell.textContent = entry[field] || "—";
      }
      for (const field of ["patients", "doctors", "clinics", "consultations"]) {
        const cell = row.insertCell();
        cell.className = "num";
        cell.textContent = formatCount(entry[field] || 0);
      }
      row.dataset.row = JSON.stringify(entry);
      return row;
    });
    document.querySelector("#geography-table tbody").replaceChildren(...rows);
    return rows.length ? "" : "No addresses yet.";
  }

  // --- Range and loading -----------------------------------------------------------------------------

  const form = document.getElementById("range");

  function initialRange() {
    const query = new URLSearchParams(window.location.search);
    const pick = (name, valid) => (valid(query.get(name)) ? query.get(name) : config.defaults[name]);
    return {
      from: pick("from", (value) => DATE_PATTERN.test(value || "")),
      to: pick("to", (value) => DATE_PATTERN.test(value || "")),
      granularity: pick("granularity", (value) => GRANULARITIES.includes(value)),
    };
  }

  function currentRange() {
    return { from: form.elements.from.value, to: form.elements.to.value, granularity: form.elements.granularity.value };
  }

  let rounds = 0;
  let pending = 0;

  /** Run panels: [name, fetchData, draw] each. */
  async function load(panels) {
    pending += 1;
    document.body.dataset.state = "loading";
    await Promise.all(panels.map(([name, fetchData, draw]) => runPanel(name, fetchData, draw)));
    pending -= 1;
    rounds += 1;
    document.body.dataset.loads = String(rounds);
    if (!pending) {
      document.body.dataset.state = "ready";
    }
  }

  function windowed() {
    const range = currentRange();
    return [
      ["growth", () => api("user-growth/", range), setGrowth],
      ["revenue", () => api("revenue/", range), setRevenue],
      ["consultations", () => api("consultations/", range), drawConsultations],
      ["geography", geographyFetcher(range), drawGeography],
    ];
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const range = currentRange();
    window.history.replaceState(null, "", `?${new URLSearchParams(range)}`);
    load(windowed());
  });

  document.getElementById("growth-active").addEventListener("change", () => {
    if (growth) {
      setStatus("growth", drawGrowth());
    }
  });
  document.getElementById("revenue-currency").addEventListener("change", () => {
    if (revenue) {
      setStatus("revenue", drawRevenue());
    }
  });
  document.getElementById("geography-level").addEventListener("change", () => {
    load([["geography", geographyFetcher(currentRange()), drawGeography]]);
  });

  const range = initialRange();
  form.elements.from.value = range.from;
  form.elements.to.value = range.to;
  form.elements.granularity.value = range.granularity;
  load([["overview", () => api("dashboard/"), drawOverview], ...windowed()]);
})();
