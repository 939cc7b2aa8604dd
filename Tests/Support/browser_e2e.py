#!/usr/bin/env python3
"""The page in a real browser: Debian's chromium, headless, driven by Selenium
(PyPI, pinned in the Makefile) against a running `fusebox demo`.

    browser_e2e.py BASE_URL PASSWORD ARTIFACT_DIR

Logs in, sees the per-phase values change live, sets a station's limit and sees
it applied, switches ripple to locked and sees every station go to 0 A, opens
the history chart, downloads the sessions CSV, and sees a token name and a
script error that hold markup shown as text; saves screenshots of the
dashboard and the history page. Prints "OK <step>" per step; exits 1 with the
reason on the first failure.
"""
import os
import sys
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from browser_session import Browser

base, password, artifacts = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
os.makedirs(artifacts, exist_ok=True)
downloads = os.path.join(artifacts, "downloads")

browser = Browser(artifacts, downloads=downloads)
driver, step, fail, until = browser.driver, browser.step, browser.fail, browser.until


def charger_limits():
    # Read in one script call: the page redraws these elements every cycle.
    pairs = driver.execute_script(
        "return [...document.querySelectorAll('#chargers .charger')].map(c => [c.dataset.charger, c.querySelector('.limit').textContent])")
    return {k: float(v) for k, v in pairs if v not in ("", "-")}


def phase_currents():
    return driver.execute_script("return [...document.querySelectorAll('#phases .amps')].map(e => e.textContent)")


try:
    driver.get(base + "/")
    until(lambda: driver.current_url.endswith("/login"), "the dashboard sends a stranger to /login")
    step("redirected to the login page")

    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "submit").click()
    until(lambda: driver.current_url.rstrip("/") == base, "logged in, on the dashboard")
    until(lambda: driver.find_element(By.ID, "live").text == "live", "the WebSocket connects")
    step("logged in; live updates connected")

    first = until(lambda: phase_currents() or None, "per-phase currents shown")
    if len(first) != 3:
        fail(f"expected L1, L2, L3, got {first}")
    until(lambda: phase_currents() != first, "the per-phase values change live")
    step(f"per-phase values change live (first {first})")

    until(lambda: len(charger_limits()) >= 2, "station cards shown")
    card = driver.find_element(By.CSS_SELECTOR, '#chargers [data-charger="p01"]')
    field = card.find_element(By.CLASS_NAME, "limit-input")
    field.clear()
    field.send_keys("7")
    card.find_element(By.CLASS_NAME, "limit-set").click()
    until(lambda: charger_limits()["p01"] <= 7.0 and "capped at 7.0 A" in card.find_element(By.CLASS_NAME, "currents").text,
          "p01's limit of 7 A is applied")
    step(f"station limit applied: {charger_limits()['p01']} A")

    Select(driver.find_element(By.ID, "ripple-mode")).select_by_visible_text("locked")
    driver.find_element(By.ID, "ripple-set").click()
    until(lambda: driver.find_element(By.ID, "ripple").text.startswith("locked") and all(v == 0 for v in charger_limits().values()),
          "ripple locked: every station at 0 A")
    step("ripple locked: every station at 0 A")
    driver.save_screenshot(os.path.join(artifacts, "dashboard.png"))
    driver.set_window_size(390, 844)  # a phone
    width = driver.execute_script("return document.documentElement.scrollWidth")
    if width > 400:
        fail(f"on a phone's width the page scrolls sideways: {width} px")
    driver.save_screenshot(os.path.join(artifacts, "dashboard-phone.png"))
    driver.set_window_size(1280, 1100)
    step("dashboard screenshots saved (desktop, and a phone's width without sideways scrolling)")

    driver.find_element(By.CSS_SELECTOR, 'nav button[data-tab="history"]').click()
    until(lambda: driver.execute_script("return typeof chart !== 'undefined' && chart.data.datasets[0].data.length") or None,
          "the history chart has points")
    points = driver.execute_script("return chart.data.datasets[0].data.length")
    time.sleep(0.3)  # the chart's first paint, for the screenshot only: no assertion rests on it
    driver.save_screenshot(os.path.join(artifacts, "history.png"))
    step(f"history chart drawn with {points} points; screenshot saved")

    driver.find_element(By.CSS_SELECTOR, 'nav button[data-tab="sessions"]').click()
    until(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#sessions-body tr")) > 0, "the sessions table has rows")
    driver.find_element(By.ID, "sessions-csv").click()
    path = os.path.join(downloads, "sessions.csv")
    until(lambda: os.path.exists(path) and open(path).read().startswith("id,charger,start,end,energy_kwh,peak_power_w\n"),
          "sessions.csv downloaded")
    rows = open(path).read().strip().split("\n")[1:]
    if not rows:
        fail("sessions.csv has no sessions")
    step(f"sessions CSV downloaded with {len(rows)} session(s)")

    # Text from users and scripts is shown as text, never run (issue 16, finding 2).
    markup = '<img src=x onerror="window.__injected=1">'
    driver.find_element(By.CSS_SELECTOR, 'nav button[data-tab="access"]').click()
    driver.find_element(By.ID, "token-name").send_keys(markup)
    driver.find_element(By.ID, "token-create").click()
    until(lambda: any(td.text == markup for td in driver.find_elements(By.CSS_SELECTOR, "#tokens-body td")),
          "a token named with markup is listed as that text")
    if driver.find_elements(By.CSS_SELECTOR, "#tokens-body img") or driver.execute_script("return window.__injected === 1"):
        fail("a token's name was parsed as markup")
    row = [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#tokens-body tr")[0].find_elements(By.TAG_NAME, "td")]
    if row[1] != "read":
        fail(f"the token's scope is not shown: {row}")
    step("a token named with markup shows as text, with its scope (read)")

    driver.find_element(By.CSS_SELECTOR, 'nav button[data-tab="scripts"]').click()
    until(lambda: driver.find_elements(By.CSS_SELECTOR, '#scripts-body button[data-name="fair_share"]'), "the scripts are listed")
    driver.find_element(By.CSS_SELECTOR, '#scripts-body button[data-name="fair_share"]').click()
    until(lambda: "allocate" in driver.find_element(By.ID, "script-source").get_attribute("value"), "fair_share's source is shown")
    source = driver.find_element(By.ID, "script-source")
    source.clear()
    source.send_keys('return { name = "fair_share", allocate = function(site) error(\'<img src=x onerror="window.__injected=2">\') end }')
    driver.find_element(By.ID, "script-upload").click()
    until(lambda: any("<img src=x" in e.text for e in driver.find_elements(By.CSS_SELECTOR, "#scripts-body .error")),
          "the refused script's error, with its markup, is shown as text")
    if driver.find_elements(By.CSS_SELECTOR, "#scripts-body img, #script-message img") or driver.execute_script("return window.__injected === 2"):
        fail("a script's error was parsed as markup")
    step("a script error holding markup shows as text; the running version stays")
finally:
    driver.quit()
