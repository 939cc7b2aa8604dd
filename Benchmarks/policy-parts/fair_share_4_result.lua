-- fair_share cut short (docs/performance.md): the fill, its result returned;
-- fair_share itself adds remembering who runs.
return { name = "fair_share_4_result", allocate = function(site)
  local out = fusebox.fill_and_fits(site, fusebox.wanting(site))
  return out
end }
