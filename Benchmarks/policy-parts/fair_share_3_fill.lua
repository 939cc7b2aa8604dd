-- fair_share cut short (docs/performance.md): the fill, its result dropped.
return { name = "fair_share_3_fill", allocate = function(site)
  local out, everyone = fusebox.fill_and_fits(site, fusebox.wanting(site))
  return {}
end }
