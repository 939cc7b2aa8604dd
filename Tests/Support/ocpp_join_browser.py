"""The installer accepts a station asking to join, in headless chromium
(Selenium): the Setup tab lists it under "OCPP stations asking to join";
"Add as <id>" puts it in the stations' table as an OCPP station; "Save and
apply" saves it; once the station has taken its limit and left, its card on
the Overview says the limit kept for it. Prints "OK <step>" per step, with a screenshot of each.

usage: ocpp_join_browser.py URL PASSWORD ARTIFACTS STATION
"""
import sys

from selenium.webdriver.common.by import By

from browser_session import Browser

base, password, artifacts, station = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3], sys.argv[4]
browser = Browser(artifacts, window="1400,1800", timeout=60, failure="ocpp-join-failure.png")
driver, step, fail, until = browser.driver, browser.step, browser.fail, browser.until

try:
    driver.get(base + "/login")
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "submit").click()
    until(lambda: driver.current_url.rstrip("/") == base, "logged in")
    driver.find_element(By.CSS_SELECTOR, "nav button[data-tab=setup]").click()
    until(lambda: driver.find_elements(By.CSS_SELECTOR, f'#ocpp-joining-list tr[data-joining="{station}"]'), "the station asking to join is listed")
    row = driver.find_element(By.CSS_SELECTOR, f'#ocpp-joining-list tr[data-joining="{station}"]')
    if not driver.find_element(By.ID, "ocpp-joining").is_displayed() or "Joiner" not in row.text or "1.2.3" not in row.text:
        fail(f"the list shows: {row.text}")
    step(f"{station} is listed with its vendor and firmware", "ocpp-join-1-listed.png")
    row.find_element(By.CSS_SELECTOR, "button.join").click()
    added = [r for r in driver.find_elements(By.CSS_SELECTOR, "#setup-chargers tr.station")
             if r.find_element(By.CSS_SELECTOR, ".id").get_attribute("value") == station]
    if len(added) != 1 or added[0].find_element(By.CSS_SELECTOR, ".driver").get_attribute("value") != "ocpp":
        fail(f"not in the stations' table as an OCPP station: {[r.text for r in added]}")
    step(f"Add as {station}: an OCPP station in the form")
    driver.find_element(By.ID, "setup-save").click()
    message = lambda: driver.find_element(By.ID, "setup-message").text  # noqa: E731
    until(lambda: message().startswith("Version") or "refused" in message() or "does not answer" in message(), "the save answers")
    if not message().startswith("Version"):
        fail("the save was refused: " + message() + " | " + " | ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, ".problem")))
    step("saved: " + message(), "ocpp-join-2-saved.png")
    # The station takes its limit and leaves: its card on the Overview says what is kept for it.
    driver.find_element(By.CSS_SELECTOR, "nav button[data-tab=overview]").click()
    card = f'.card.charger[data-charger="{station}"] .status'
    until(lambda: "kept for it until it is back" in (driver.find_elements(By.CSS_SELECTOR, card) or [None])[0].text
          if driver.find_elements(By.CSS_SELECTOR, card) else False, "the card of the station that left says what is kept for it")
    step("its card: " + driver.find_element(By.CSS_SELECTOR, card).text, "ocpp-join-3-left.png")
    driver.quit()
except Exception as e:  # noqa: BLE001
    fail(f"{type(e).__name__}: {e}")
