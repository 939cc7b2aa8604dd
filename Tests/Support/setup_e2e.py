"""The installer's way through the Setup tab, in headless chromium (Selenium):
a box whose site.yaml holds only its fuse and serial, beside `fusebox sim`.
Find the simulated devices, test them, add the meter and three stations of
different makes with their wiring, save; the cars charge under the limit, no
restart. A wrong port is refused next to its field while the cars go on
charging; an earlier version comes back. Prints "OK <step>" per step and
leaves a screenshot of each in the artifacts folder.

usage: setup_e2e.py URL PASSWORD ARTIFACTS PORTS_JSON
PORTS_JSON: {"grid": port, "p01": port, ...} and {"wiring": {"p01": "1,2,3", ...}}
"""
import json
import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from browser_session import Browser

base, password, artifacts, sim = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
browser = Browser(artifacts, window="1400,1800", timeout=60, failure="setup-failure.png")
driver, step, fail, until = browser.driver, browser.step, browser.fail, browser.until


def get(path):
    """A GET of the API with the page's session, from inside the page."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => r.json()).then(done, e => done({error: String(e)}));", path)


def open_setup():
    """The Setup tab, once it has loaded whole (its last part is the commissioning check's state)."""
    driver.execute_script("document.getElementById('check-state').textContent = ''")
    driver.find_element(By.CSS_SELECTOR, "nav button[data-tab=setup]").click()
    until(lambda: driver.find_element(By.ID, "check-state").text != "", "the Setup tab loaded")


def rows():
    return driver.find_elements(By.CSS_SELECTOR, "#setup-chargers tr.station")


def message():
    return driver.find_element(By.ID, "setup-message").text


def charging_under_limit(count):
    s = get("/api/status")
    if "chargers" not in s:
        return False
    busy = [c for c in s["chargers"] if c["status"] == "charging" and c["limit"] >= 6]
    # Before the setup the stations ran at their own maximum, as any site without load
    # management: the cars follow the first cut after their reaction delay.
    return len(busy) >= count and max(s["grid"]["current"]) <= s["grid"]["limit"][0]


try:
    driver.get(base + "/login")
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "submit").click()
    until(lambda: driver.current_url.rstrip("/") == base, "logged in")
    open_setup()
    if driver.find_element(By.CSS_SELECTOR, '[data-key="site.limit.current.0"]').get_attribute("value") != "32":
        fail("the Setup does not show the file's fuse")
    if rows():
        fail(f"a site not set up yet shows {len(rows())} stations")
    step("a box with only its fuse and serial: the Setup tab is empty", "setup-1-empty.png")

    ports = [str(p) for k, p in sim.items() if k != "wiring"]
    driver.find_element(By.ID, "find-hosts").send_keys("127.0.0.1")
    driver.find_element(By.ID, "find-ports").clear()
    driver.find_element(By.ID, "find-ports").send_keys(",".join(ports + ["1"]))
    driver.find_element(By.ID, "find-run").click()
    until(lambda: "recognised" in driver.find_element(By.ID, "find-message").text, "Find devices answers")
    found = driver.find_elements(By.CSS_SELECTOR, "#find-results tr")
    if len(found) != 4:
        fail(f"found {len(found)} devices, expected the meter and three stations: {driver.find_element(By.ID, 'find-results').text}")
    step("found the meter and three stations of three makes", "setup-2-found.png")

    for button in driver.find_elements(By.CSS_SELECTOR, "#find-results button"):
        button.click()
    until(lambda: len(rows()) == 3, "three stations added to the form")
    if driver.find_element(By.CSS_SELECTOR, '[data-key="meters.grid.port"]').get_attribute("value") != str(sim["grid"]):
        fail("the grid meter's port is not the one found")
    # The wiring, as the electrician knows it: each station's phases on the building's.
    port_of = {str(v): k for k, v in sim.items() if k != "wiring"}
    for row in rows():
        station = port_of[row.find_element(By.CSS_SELECTOR, ".port").get_attribute("value")]
        Select(row.find_element(By.CSS_SELECTOR, ".phases")).select_by_value(sim["wiring"][station])
    for row in rows() + [driver.find_element(By.ID, "setup-grid")]:
        row.find_element(By.CSS_SELECTOR, ".test").click()
    until(lambda: all("answers in" in r.find_element(By.CSS_SELECTOR, ".test-result").text
                      for r in rows() + [driver.find_element(By.ID, "setup-grid")]), "every device answers its Test")
    step("each device tested: it answers, with what it reads", "setup-3-tested.png")

    driver.find_element(By.ID, "setup-save").click()
    until(lambda: message().startswith("Version") or "refused" in message() or "does not answer" in message(), "the save answers")
    if not message().startswith("Version"):
        fail("the save was refused: " + message() + " | " + " | ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, ".problem")))
    step("saved: " + message(), "setup-4-saved.png")
    driver.find_element(By.CSS_SELECTOR, "nav button[data-tab=overview]").click()
    until(lambda: charging_under_limit(3), "the three cars charge under the limit")
    until(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#chargers .charger")) == 3, "the overview shows three stations")
    step("the cars charge under the 32 A limit, without a restart", "setup-5-charging.png")

    open_setup()
    if len(rows()) != 3:
        fail(f"the Setup shows {len(rows())} stations")
    good_port = rows()[0].find_element(By.CSS_SELECTOR, ".port").get_attribute("value")
    port = rows()[0].find_element(By.CSS_SELECTOR, ".port")
    port.clear()
    port.send_keys("1")
    driver.find_element(By.ID, "setup-save").click()
    until(lambda: driver.find_elements(By.CSS_SELECTOR, "#setup-chargers .problem"), "the refusal is shown next to the field")
    problem = driver.find_element(By.CSS_SELECTOR, "#setup-chargers .problem").text
    if not problem.startswith("chargers[0].port:") or "refuses the connection" not in problem:
        fail(f"the problem shown: {problem}")
    config = get("/api/config")
    if str(config["chargers"][0]["port"]) != good_port:
        fail(f"the refused configuration took over: {config['chargers'][0]}")
    until(lambda: charging_under_limit(3), "the cars go on charging")
    step("a wrong port is refused next to its field; the configuration in force stays, the cars charge on", "setup-6-refused.png")

    driver.execute_script("document.getElementById('check-state').textContent = ''")
    driver.find_element(By.ID, "setup-reset").click()
    until(lambda: driver.find_element(By.ID, "check-state").text != "", "the form is back to what is in force")
    if driver.find_elements(By.CSS_SELECTOR, ".problem"):
        fail("the problems stay after Discard changes")
    maximum = rows()[0].find_element(By.CSS_SELECTOR, ".max")
    maximum.clear()
    maximum.send_keys("10")
    driver.execute_script("document.getElementById('check-state').textContent = ''")
    driver.find_element(By.ID, "setup-save").click()
    until(lambda: "Version 3 in force" in message(), "a second save is version 3")
    until(lambda: driver.find_element(By.ID, "check-state").text != "", "the Setup reloaded after the save")
    until(lambda: driver.find_elements(By.CSS_SELECTOR, '#setup-versions button[data-version="2"]'), "version 2 is listed")
    driver.find_element(By.CSS_SELECTOR, '#setup-versions button[data-version="2"]').click()
    until(lambda: "Version 2 restored" in message(), "version 2 restored")
    until(lambda: get("/api/config")["chargers"][0]["max"] == 16, "the restored version is in force")
    versions = get("/api/config/versions")
    if [v["number"] for v in versions] != [4, 3, 2, 1]:
        fail(f"versions: {versions}")
    step("an earlier version restored: " + message(), "setup-7-restored.png")

    driver.find_element(By.ID, "check-readings").click()
    until(lambda: "done" in driver.find_element(By.ID, "check-state").text, "the commissioning check finishes")
    found = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#check-findings tr")]
    if len(found) != 3 or not all(line.startswith("OK L") for line in found):
        fail(f"the readings of a correct site: {found}")
    step("the commissioning check of the readings: L1, L2, L3 realistic", "setup-8-commissioning.png")
finally:
    driver.quit()
