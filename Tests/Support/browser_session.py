"""Headless chromium through Selenium for the page's end-to-end scripts
(browser_e2e.py, setup_e2e.py): the driver, and how a script reports a step
("OK <step>", with an optional screenshot), fails ("FAIL <reason>", with a
screenshot, exit 1) and waits for what the page must come to show."""
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait


class Browser:
    def __init__(self, artifacts, window="1280,1100", timeout=30, failure="failure.png", downloads=None):
        os.makedirs(artifacts, exist_ok=True)
        self.artifacts, self.failure = artifacts, failure
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={window}"):
            options.add_argument(arg)
        if downloads:
            os.makedirs(downloads, exist_ok=True)
            options.add_experimental_option("prefs", {"download.default_directory": downloads, "download.prompt_for_download": False})
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        self.wait = WebDriverWait(self.driver, timeout, poll_frequency=0.1)

    def shot(self, name):
        self.driver.save_screenshot(os.path.join(self.artifacts, name))

    def step(self, name, screenshot=None):
        if screenshot:
            self.shot(screenshot)
        print("OK " + name, flush=True)

    def fail(self, reason):
        self.shot(self.failure)
        print("FAIL " + reason, flush=True)
        self.driver.quit()
        sys.exit(1)

    def until(self, condition, what):
        try:
            return self.wait.until(lambda d: condition())
        except Exception as error:  # the timeout, or what the condition raised last
            self.fail(f"{what}: {error}")
