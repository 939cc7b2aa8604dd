
return {
  name = nil,
  allocate = function(site)
    while true do
      pcall(function() while true do end end)
    end
  end,
}
